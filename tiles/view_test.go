package tiles_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// countingSource is the real memory store, counting the queries it is
// asked (by what they ask) and holding each until released.
type countingSource struct {
	*memstore.Store // Versioned, as a server's source is

	mu      sync.Mutex
	asked   map[string]int // per query: a grouping of AggregateMany is one
	many    int            // AggregateMany calls
	release chan struct{}  // closed: queries run; nil: they run at once
}

func (c *countingSource) AggregateMany(ctx context.Context, q tiles.Query, by [][]tiles.Dim, fn func(int, tiles.Group) error) error {
	c.mu.Lock()
	c.many++
	for _, b := range by {
		qb := q
		qb.By = b
		c.asked[queryName(qb)]++
	}
	release := c.release
	c.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.Store.AggregateMany(ctx, q, by, fn)
}

func (c *countingSource) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	c.mu.Lock()
	c.asked[queryName(q)]++
	release := c.release
	c.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.Store.Aggregate(ctx, q, fn)
}

func queryName(q tiles.Query) string {
	return fmt.Sprintf("%s by %v grid %v area %v rest %v", q.Filter.Values().Encode(), q.By, q.Grid, q.Area, q.WithRest)
}

func (c *countingSource) counts() (total int, byQuery map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.asked {
		total += n
	}
	return total, maps.Clone(c.asked)
}

// spread returns sourcetest's records and as many again scattered twenty
// times wider, so that the tiles of a view at any zoom hold records and
// bins cross the edges of tiles and of metatiles.
func spread(seed uint64, n int) []presence.Record {
	recs := sourcetest.Records(seed, n)
	wide := sourcetest.Records(seed+1, n)
	for i := range wide {
		wide[i].Lon = sourcetest.Centre[0] + (wide[i].Lon-sourcetest.Centre[0])*20
		wide[i].Lat = sourcetest.Centre[1] + (wide[i].Lat-sourcetest.Centre[1])*20
	}
	return append(recs, wide...)
}

// viewport returns the w×h tiles of zoom z whose top-left corner tile is
// offset by (dx, dy) tiles from the one holding the centre (those
// of them that exist).
func viewport(z uint8, w, h, dx, dy int) []tiles.TileID {
	c := tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
	var out []tiles.TileID
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			tx, ty := int(c.X)+dx+x, int(c.Y)+dy+y
			if tx >= 0 && ty >= 0 && tx < 1<<z && ty < 1<<z {
				out = append(out, tiles.TileID{Z: z, X: uint32(tx), Y: uint32(ty)})
			}
		}
	}
	return out
}

func parseFilter(t testing.TB, q string) tiles.Filter {
	t.Helper()
	vals, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	f, err := tiles.ParseFilter(vals, sourcetest.Rome, resolver{refdata.Italy()})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return f
}

// A view (4 layers × 6×4 tiles) of a new filter, all its tiles asked at
// once, asks the source each query once: the whole-area aggregates of
// origins, flows and zones once for all their tiles (all six in one
// call: the source is a MultiSource), and the density bins once per
// metatile, not once per tile.
func TestViewAsksTheSourceOncePerQuery(t *testing.T) {
	records := spread(sourcetest.Seed(t), 3000)
	store := memstore.New(refdata.Italy())
	if err := store.Add(records, tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
		t.Fatal(err)
	}
	src := &countingSource{Store: store, asked: map[string]int{}}
	e := tiles.NewEngine(src, tiles.NewGazetteer(testPlaces()), tiles.Config{Privacy: sourcetest.Privacy(t, 5), Loc: sourcetest.Rome, Town: sourcetest.Centre})
	ctx := context.Background()
	for _, q := range []string{"from=2025-03-01&to=2025-06-01&age=35-44", "from=2025-03-02&to=2025-06-02&gender=f", "days=sat,sun&hours=8-12"} {
		t.Run(q, func(t *testing.T) {
			f := parseFilter(t, q)
			view := viewport(17, 6, 4, -3, -2)
			src.mu.Lock()
			src.asked, src.many, src.release = map[string]int{}, 0, make(chan struct{})
			src.mu.Unlock()
			var (
				wg, started sync.WaitGroup
				errs        = make(chan error, 4*len(view))
			)
			for _, layer := range tiles.LayerNames() {
				for _, tid := range view {
					started.Add(1)
					wg.Go(func() {
						started.Done()
						if _, err := e.Tile(ctx, tiles.Request{Layer: layer, Tile: tid, Filter: f}); err != nil {
							errs <- err
						}
					})
				}
			}
			started.Wait() // every tile of the view has been asked for
			close(src.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			total, byQuery := src.counts()
			for name, n := range byQuery {
				if n != 1 {
					t.Errorf("asked %d times: %s", n, name)
				}
			}
			density := 0
			for name := range byQuery {
				if strings.Contains(name, fmt.Sprintf("by [%d]", tiles.DimBin)) {
					density++
				}
			}
			// 6×4 tiles span at most 2×2 metatiles of 8×8
			if density > 4 || density == 0 {
				t.Errorf("density asked %d queries for a 6×4 view, want 1 to 4 (one per metatile)", density)
			}
			if total > 4+6 {
				t.Errorf("the view asked the source %d queries, %d of them different", total, len(byQuery))
			}
			if src.many != 1 || total-density != 6 {
				t.Errorf("the view's %d whole-area groupings took %d calls of AggregateMany, want 6 in one", total-density, src.many)
			}
		})
	}
}

// plainSource hides every method of its source but Aggregate.
type plainSource struct{ src tiles.Source }

func (p plainSource) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	return p.src.Aggregate(ctx, q, fn)
}

// The tiles of a view whose whole-area aggregates come from one pass
// (the memory store, a MultiSource) are those of an engine asking for
// each by itself, byte for byte, at every origin level, whatever layer
// asks first.
func TestViewOnePassEqualsQueryPerGrouping(t *testing.T) {
	seed := sourcetest.Seed(t)
	records := spread(seed, 3000)
	store := memstore.New(refdata.Italy())
	if err := store.Add(records, tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
		t.Fatal(err)
	}
	places := tiles.NewGazetteer(testPlaces())
	cfg := tiles.Config{Privacy: sourcetest.Privacy(t, 5), Loc: sourcetest.Rome, Town: sourcetest.Centre}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 15))
	for _, q := range []string{"", "age=35-44", "days=sat,sun&hours=8-12", "nationality=DE,FR", "zone=piazza", "origin=054&gender=f"} {
		f := parseFilter(t, q)
		one, each := tiles.NewEngine(store, places, cfg), tiles.NewEngine(plainSource{store}, places, cfg)
		for _, z := range []uint8{5, 7, 9, 14} {
			layers := []string{tiles.LayerOrigins, tiles.LayerFlows, tiles.LayerZones}
			rng.Shuffle(len(layers), func(i, j int) { layers[i], layers[j] = layers[j], layers[i] })
			for _, layer := range layers {
				for _, tid := range viewport(z, 3, 2, -1, -1) {
					r := tiles.Request{Layer: layer, Tile: tid, Filter: f}
					got, err := one.Tile(ctx, r)
					if err != nil {
						t.Fatal(err)
					}
					want, err := each.Tile(ctx, r)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%q %s %v: %d bytes from one pass, %d from a query per grouping", q, layer, tid, len(got), len(want))
					}
				}
			}
		}
	}
}

// Tiles cut from the bins of their metatile are the tiles each computed
// alone (Config.Metatile 1, one query per tile), byte for byte: the same
// bins, ids, figures, perturbation and suppression, at tile and metatile
// edges too, whatever the order and concurrency of the requests.
func TestMetatileTilesEqualTilesAlone(t *testing.T) {
	seed := sourcetest.Seed(t)
	records := spread(seed, 4000)
	store := memstore.New(refdata.Italy())
	if err := store.Add(records, tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
		t.Fatal(err)
	}
	places := tiles.NewGazetteer(testPlaces())
	cfg := tiles.Config{Privacy: sourcetest.Privacy(t, 5), Loc: sourcetest.Rome, Town: sourcetest.Centre}
	shared := tiles.NewEngine(store, places, cfg)
	cfg.Metatile = 1
	alone := tiles.NewEngine(store, places, cfg)
	small := cfg
	small.Metatile, small.CacheBytes = 3, 1<<10 // odd blocks, and a cache that keeps almost nothing
	tight := tiles.NewEngine(store, places, small)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 14))
	for _, q := range []string{
		"", "from=2025-03-15&to=2025-04-10", "age=35-44", "gender=f", "nationality=DE,FR",
		"days=sat,sun&hours=8-12", "zone=piazza", "origin=054", "spend=high",
		"age=18-24&gender=m&hours=9-17&days=mon,tue,wed", "from=2025-04-01&to=2025-05-01&nationality=IT",
	} {
		f := parseFilter(t, q)
		for _, shape := range []tiles.Shape{tiles.Hexagon, tiles.Square} {
			for _, z := range []uint8{2, 9, 12, 14, 16, 17, 18} {
				t.Run(fmt.Sprintf("%s/%v/z%d", q, shape, z), func(t *testing.T) {
					view := viewport(z, 7, 5, -3, -2)
					rng.Shuffle(len(view), func(i, j int) { view[i], view[j] = view[j], view[i] })
					got := make([][]byte, len(view))
					gotTight := make([][]byte, len(view))
					var wg sync.WaitGroup
					errs := make(chan error, 2*len(view))
					for i, tid := range view {
						wg.Go(func() {
							var err error
							r := tiles.Request{Layer: tiles.LayerDensity, Tile: tid, Filter: f, Shape: shape}
							if got[i], err = shared.Tile(ctx, r); err != nil {
								errs <- err
							}
							if gotTight[i], err = tight.Tile(ctx, r); err != nil {
								errs <- err
							}
						})
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						t.Fatal(err)
					}
					nonEmpty := 0
					for i, tid := range view {
						want, err := alone.Tile(ctx, tiles.Request{Layer: tiles.LayerDensity, Tile: tid, Filter: f, Shape: shape})
						if err != nil {
							t.Fatal(err)
						}
						if want != nil {
							nonEmpty++
						}
						if !bytes.Equal(got[i], want) {
							t.Errorf("%v: the tile cut from its metatile (%d bytes) differs from the tile alone (%d bytes)", tid, len(got[i]), len(want))
						}
						if !bytes.Equal(gotTight[i], want) {
							t.Errorf("%v: the tile cut from a 3×3 metatile (%d bytes) differs from the tile alone (%d bytes)", tid, len(gotTight[i]), len(want))
						}
					}
					if nonEmpty == 0 {
						t.Errorf("every tile of the view is empty: not a useful test")
					}
				})
			}
		}
	}
}
