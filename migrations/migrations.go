// Package migrations holds the SQL schema of flowtiles, embedded in the
// binary and applied with goose by `flowtiles migrate`.
package migrations

import "embed"

// FS holds the numbered goose migrations.
//
//go:embed *.sql
var FS embed.FS
