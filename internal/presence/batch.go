package presence

import (
	"fmt"

	"github.com/flowtiles/flowtiles/tiles"
)

// BatchID identifies a batch posted to POST /api/ingest.
type BatchID struct {
	// Checksum identifies the content: the SHA-256 of the body, hex, as
	// `flowtiles ingest` takes it of a file. The same bytes are stored
	// once, whoever posts them under whatever key.
	Checksum string
	// Scope is who posted (Tokens.Scope of the bearer token): keys of
	// different scopes never meet.
	Scope string
	// Key is the client's Idempotency-Key ("" without one). Within its
	// scope it is bound to the checksum of its first use.
	Key string
	// Town is the code of the one town the poster may write (a town's
	// token, `--ingest-token deruta:SECRET`), "" for any town. A sink
	// stores the batch only when every record lies in that town, and
	// refuses it whole with a *TownError otherwise.
	Town string
}

// KeyConflictError is an idempotency key reused for other content.
type KeyConflictError struct{ Key string }

func (e *KeyConflictError) Error() string {
	return fmt.Sprintf("Idempotency-Key %s was used before for a different body: nothing stored", tiles.Quote(e.Key))
}

// RecordError is a record a sink cannot store although it passed the
// contract's validation (an origin code the store does not know).
type RecordError struct {
	Index  int // 0-based position in the batch
	Column string
	Reason string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d: %s: %s", e.Index+1, e.Column, e.Reason)
}

// TownError is a batch posted with a town's token (BatchID.Town) that holds
// records lying elsewhere, in another town or outside every town: nothing
// of it is stored.
type TownError struct {
	Town string // the token's town
	// Missing: the token's town is not a town of the store (removed since
	// the server started); every record is then listed.
	Missing bool
	Rows    []TownRow // the first MaxListedErrors records outside Town, in order
	Count   int       // all of them
}

// TownRow is a record of a batch lying outside the town of its token.
type TownRow struct {
	Index int    // 0-based position in the batch
	Town  string // the code of the town it lies in; "" outside every town
}

func (r TownRow) String() string {
	if r.Town == "" {
		return fmt.Sprintf("record %d: outside every town", r.Index+1)
	}
	return fmt.Sprintf("record %d: in town %s", r.Index+1, r.Town)
}

func (e *TownError) Error() string {
	if e.Missing {
		return fmt.Sprintf("the token's town %s is not a town of this server: nothing stored", e.Town)
	}
	if e.Count == 1 {
		return fmt.Sprintf("1 record lies outside town %s, the token's: nothing stored", e.Town)
	}
	return fmt.Sprintf("%d records lie outside town %s, the token's: nothing stored", e.Count, e.Town)
}
