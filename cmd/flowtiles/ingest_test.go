package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/testdb"
)

// `flowtiles ingest` reports bad files in a bounded number of bounded
// lines, whatever their size: a bad value is quoted by a short prefix, at
// most --max-errors rows are listed and the rest counted, and a row too
// long to be one ends the file.
func TestIngestOutputIsBounded(t *testing.T) {
	_, url := testdb.Create(t)
	dir := t.TempDir()
	// 500 rows, each with a 100 kB bad value
	var many strings.Builder
	many.WriteString("observed_at,lon,lat\n")
	for range 500 {
		many.WriteString("2025-03-01T08:00:00Z," + strings.Repeat("7", 100_000) + ",42\n")
	}
	manyPath := filepath.Join(dir, "many.csv")
	// one row of 16 MB
	longPath := filepath.Join(dir, "long.csv")
	if err := os.WriteFile(manyPath, []byte(many.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(longPath, []byte("observed_at,lon,lat\n"+strings.Repeat("x", 64*presence.MaxRowBytes)+",12,42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := &IngestCmd{Files: []string{manyPath, longPath}, Database: Database{DatabaseURL: url, Timeout: 30e9},
		Format: "auto", MaxErrors: 50, Progress: "none", stdout: &stdout, stderr: &stderr}
	err := cmd.Run(&Env{Ctx: context.Background(), Log: slog.New(slog.DiscardHandler)})
	if err == nil || err.Error() != "2 of 2 files not loaded" {
		t.Fatalf("run: %v", err)
	}
	out := stderr.String()
	if len(out) > 20_000 {
		t.Fatalf("%d bytes on stderr: %.500s", len(out), out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	listed := 0
	for _, l := range lines {
		if len(l) > 500 {
			t.Errorf("a line of %d bytes: %.200s", len(l), l)
		}
		if strings.HasPrefix(l, manyPath+":") && strings.Contains(l, ": lon: ") {
			listed++
		}
	}
	if listed != 50 || !strings.Contains(out, manyPath+": … and 450 more invalid rows") {
		t.Errorf("%d rows listed:\n%s", listed, out)
	}
	if !strings.Contains(out, fmt.Sprintf("%s:2: record: a row over %d bytes", longPath, presence.MaxRowBytes)) {
		t.Errorf("the long row is not reported at its line:\n%s", out)
	}
	t.Logf("stderr (%d bytes):\n%s", len(out), out[:min(len(out), 1500)])
}
