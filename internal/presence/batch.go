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
