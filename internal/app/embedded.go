package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/server"
	"github.com/flowtiles/flowtiles/tiles"
)

// newEmbedded is the backend without a database: the seeded Deruta demo,
// generated into memory at start. Without a demo start it is the eight
// months that end today, and today's remaining records are replayed as
// their time comes (a live demo for the kiosk).
func newEmbedded(cfg Config, loc *time.Location, cat *refdata.Catalog, ref []tiles.Place, log *slog.Logger) (*backend, error) {
	start := time.Now()
	mem := memstore.New(cat)
	zones := demo.Zones()
	dc := demo.Config{Seed: cfg.DemoSeed, Records: cfg.DemoRecords, Start: cfg.DemoStart}
	replayFrom := time.Time{}
	if dc.Start.IsZero() {
		now := time.Now().In(loc)
		dc.Start = time.Date(now.Year(), now.Month()-8, now.Day()+1, 0, 0, 0, 0, loc)
		replayFrom = now
	}
	var events []server.Event
	for _, ev := range demo.Events(dc.Start.In(loc), 8) {
		events = append(events, server.Event{Name: ev.Name, Names: ev.Names, From: ev.From, To: ev.To})
	}
	n, pending, err := loadDemo(mem, zones, dc, replayFrom)
	if err != nil {
		return nil, fmt.Errorf("demo data: %w", err)
	}
	all := []tiles.Town{demo.DerutaTown(loc.String())}
	served, err := serveTowns(all, cfg.Towns)
	if err != nil {
		return nil, err
	}
	sink := ingest.NewMemorySink(mem, zones, all)
	b := &backend{
		mode: "embedded", sites: []site{{town: served[0], mem: mem, src: mem}}, places: append(ref, zones...), zones: zones,
		secret: demoSecret(dc.Seed), sink: sink,
		demo:   &replayer{sink: sink, pending: pending, every: time.Second, log: log},
		events: events,
	}
	if len(pending) > 0 {
		b.tasks = append(b.tasks, b.demo.run)
	}
	log.Info("no DATABASE_URL: serving the embedded Deruta demo data from memory",
		"records", n, "from", dc.Start.Format(time.DateOnly), "months", 8, "replayed_today", len(pending), "took", time.Since(start).Round(time.Millisecond))
	return b, nil
}

// demoSecret keys the noise of the embedded demo: derived from its seed, so
// that the same demo publishes the same figures after every restart. (With
// PostGIS the secret is the database's, made by `flowtiles migrate`.)
func demoSecret(seed uint64) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "flowtiles embedded demo %d", seed))
	return sum[:]
}

// loadDemo generates the demo data into mem. The generator's output is
// handed over in chunks to a second goroutine that turns records into rows
// and adds them, so that generating and indexing overlap (the embedded
// start must take under 2 s). With a non-zero replayFrom, records observed
// after it are returned instead, in time order, to be replayed later.
func loadDemo(mem *memstore.Store, zones []tiles.Place, dc demo.Config, replayFrom time.Time) (int, []presence.Record, error) {
	const chunk = 8192
	zindex := tiles.NewZoneIndex(zones)
	chunks := make(chan []presence.Record, 8)
	done := make(chan error, 1)
	n := 0
	go func() {
		b := mem.NewBuilder()
		var err error
		for recs := range chunks { // drained to the end, so the generator never blocks
			if err == nil {
				err = b.AddRecords(recs, zindex)
				n += len(recs)
			}
		}
		if err == nil {
			b.Commit()
		}
		done <- err
	}()
	buf := make([]presence.Record, 0, chunk)
	var pending []presence.Record
	genErr := demo.Generate(dc, func(r presence.Record) error {
		if !replayFrom.IsZero() && r.ObservedAt.After(replayFrom) {
			pending = append(pending, r)
			return nil
		}
		buf = append(buf, r)
		if len(buf) == chunk {
			chunks <- buf
			buf = make([]presence.Record, 0, chunk)
		}
		return nil
	})
	if len(buf) > 0 {
		chunks <- buf
	}
	close(chunks)
	if err := errors.Join(genErr, <-done); err != nil {
		return 0, nil, err
	}
	slices.SortStableFunc(pending, func(x, y presence.Record) int { return x.ObservedAt.Compare(y.ObservedAt) })
	return n, pending, nil
}

// replayer stores the embedded demo's records still in the future as
// their time comes, as posted batches would be.
type replayer struct {
	sink    server.Sink
	pending []presence.Record // in time order
	every   time.Duration
	poke    func() // tells the live hub
	log     *slog.Logger
}

// run replays until no record is left or ctx ends.
func (r *replayer) run(ctx context.Context) error {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for len(r.pending) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			i := 0
			for i < len(r.pending) && !r.pending[i].ObservedAt.After(now) {
				i++
			}
			if i == 0 {
				continue
			}
			// not a body's sha256: names the replayed records
			id := presence.BatchID{Checksum: fmt.Sprintf("demo-replay-%d-%d", r.pending[0].ObservedAt.UnixNano(), i)}
			if _, err := r.sink.Store(ctx, id, r.pending[:i]); err != nil {
				r.log.Warn("demo replay", "err", err)
				continue
			}
			r.pending = r.pending[i:]
			if r.poke != nil {
				r.poke()
			}
		}
	}
	return nil
}
