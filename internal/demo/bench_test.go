package demo

import (
	"testing"

	"github.com/flowtiles/flowtiles/internal/presence"
)

// BenchmarkGenerate generates the default data set (about 300,000 visits,
// 2 M records): the embedded server does this at start.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = 0
		if err := Generate(Config{}, func(presence.Record) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "records/op")
}
