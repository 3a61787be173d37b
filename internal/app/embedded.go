package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/server"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// newEmbedded is the backend without a database: the seeded demo towns
// (Deruta, and Torgiano unless --towns leaves it out), each generated into
// a memory store of its own at start. Without a demo start it is the eight
// months that end today, and today's remaining records are replayed as
// their time comes (a live demo for the kiosk).
func newEmbedded(cfg Config, loc *time.Location, cat *refdata.Catalog, ref []tiles.Place, log *slog.Logger) (*backend, error) {
	start := time.Now()
	demos := demo.Towns(loc.String())
	all := make([]tiles.Town, len(demos))
	for i := range demos {
		t := &demos[i].Town
		// records belong to a town by where they are: its municipality
		if p, ok, err := towns.EmbeddedMunicipality(t.ISTAT); err != nil {
			return nil, err
		} else if ok {
			t.Perimeter = p
		}
		all[i] = *t
	}
	served, err := towns.Select(all, cfg.Towns) // every town without --towns
	if err != nil {
		return nil, err
	}
	dc := demo.Config{Seed: cfg.DemoSeed, Start: cfg.DemoStart}
	replayFrom := time.Time{}
	if dc.Start.IsZero() {
		now := time.Now().In(loc)
		dc.Start = time.Date(now.Year(), now.Month()-8, now.Day()+1, 0, 0, 0, 0, loc)
		replayFrom = now
	}
	sites := make([]site, len(served))
	mems := make([]ingest.MemoryTown, len(served))
	loaded := make([]int, len(served))
	pendings := make([][]presence.Record, len(served))
	var g errgroup.Group
	for i, t := range served {
		dt, _ := demo.LookupTown(t.Code, loc.String())
		var events []server.Event
		for _, ev := range dt.Events(dc.Start.In(loc), 8) {
			events = append(events, server.Event{Name: ev.Name, Names: ev.Names, From: ev.From, To: ev.To})
		}
		mem, zones := memstore.New(cat), dt.Zones()
		sites[i] = site{town: t, mem: mem, src: mem, zones: zones, events: events}
		mems[i] = ingest.MemoryTown{Town: t, Store: mem, Zones: zones}
		tc := dc
		tc.Town = t.Code
		if cfg.DemoRecords > 0 {
			// the towns keep their sizes relative to Deruta's
			tc.Records = int(float64(cfg.DemoRecords) * float64(dt.DefaultVisits()) / demo.DefaultVisits)
		}
		g.Go(func() (err error) {
			loaded[i], pendings[i], err = loadDemo(mem, zones, tc, replayFrom)
			if err != nil {
				return fmt.Errorf("demo data of %s: %w", t.Code, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var (
		pending []presence.Record
		n       int
	)
	for i := range served {
		pending = append(pending, pendings[i]...)
		n += loaded[i]
	}
	slices.SortStableFunc(pending, func(x, y presence.Record) int { return x.ObservedAt.Compare(y.ObservedAt) })
	sink := ingest.NewTownsMemorySink(mems)
	b := &backend{
		mode: "embedded", sites: sites, places: ref, secret: demoSecret(dc.Seed), sink: sink,
		// every town's records: a sum of versions that only grow
		version: func() uint64 {
			var v uint64
			for _, st := range sites {
				v += st.mem.Version()
			}
			return v
		},
		demo: &replayer{sink: sink, pending: pending, every: time.Second, log: log},
	}
	if len(pending) > 0 {
		b.tasks = append(b.tasks, b.demo.run)
	}
	codes := make([]string, len(served))
	for i, t := range served {
		codes[i] = t.Code
	}
	log.Info("no DATABASE_URL: serving the embedded demo data from memory", "towns", strings.Join(codes, ","),
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
