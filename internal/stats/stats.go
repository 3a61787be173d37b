// Package stats computes the figures behind the maps for one area: presences,
// visitors, visits, dwell time, repeat visitors, top origins and countries,
// grouped by one dimension and compared between two periods, every figure
// through the same privacy rule as the tiles (tiles.Privacy). It knows
// nothing of HTTP: internal/server parses the request with ParseRequest and
// writes the Report as JSON or CSV.
package stats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// TopN is the length of the top-origins and top-countries lists.
const TopN = 10

// Config sets up a Service.
type Config struct {
	// Source answers the aggregates; when it is also a tiles.VisitSource,
	// reports carry visit figures (visits, dwell, repeat visitors).
	Source tiles.Source
	// Places are the reference areas: zone names, municipality boundaries,
	// names and populations.
	Places *tiles.Gazetteer
	// Catalog names and places origin municipalities not in Places.
	Catalog *refdata.Catalog
	Privacy tiles.Privacy
	Loc     *time.Location // the town's time zone (UTC when nil)
}

// Service computes reports. It is safe for concurrent use.
type Service struct {
	src    tiles.Source
	visits tiles.VisitSource
	places *tiles.Gazetteer
	cat    *refdata.Catalog
	names  *naming
	// origins maps origin codes to group keys, for visits
	origins map[string]originKeys
	priv    tiles.Privacy
	loc     *time.Location

	mu      sync.Mutex
	version uint64
	cache   map[string]*Report // reports of the current data version
}

// maxCached bounds the reports kept for one data version.
const maxCached = 256

// New returns a service.
func New(cfg Config) *Service {
	s := &Service{src: cfg.Source, places: cfg.Places, cat: cfg.Catalog, priv: cfg.Privacy, loc: cfg.Loc, cache: map[string]*Report{}}
	s.visits, _ = cfg.Source.(tiles.VisitSource)
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.cat == nil {
		s.cat = refdata.Italy()
	}
	s.names = newNaming(cfg.Places, s.cat)
	s.origins = originIndex(s.cat)
	return s
}

// cacheKey is the canonical form of a request.
func cacheKey(r *Request) string {
	var b strings.Builder
	b.WriteString(string(r.Area.Kind))
	b.WriteByte('|')
	b.WriteString(r.Area.Code)
	fmt.Fprintf(&b, "|%v|%s|%s", r.Area.Rect, r.By, r.Filter.Values().Encode())
	if r.Compare != nil {
		fmt.Fprintf(&b, "|%d-%d", r.Compare.From.Unix(), r.Compare.To.Unix())
	}
	return b.String()
}

// Key returns what names the report of r over the source's current data:
// the same for requests with the same report, and another once the data
// change. ok is false over an unversioned source, whose reports are never
// kept.
func (s *Service) Key(r Request) (key string, ok bool) {
	v, versioned := s.src.(tiles.Versioned)
	if !versioned {
		return "", false
	}
	return cacheKey(&r) + "|v" + strconv.FormatUint(v.Version(), 10), true
}

// Report computes the report of a request. The returned report is shared
// with later callers of the same request and must not be modified.
func (s *Service) Report(ctx context.Context, r Request) (*Report, error) {
	v, versioned := s.src.(tiles.Versioned)
	if !versioned {
		return s.compute(ctx, r)
	}
	key, ver := cacheKey(&r), v.Version()
	s.mu.Lock()
	if ver != s.version {
		s.version, s.cache = ver, map[string]*Report{}
	}
	rep := s.cache[key]
	s.mu.Unlock()
	if rep != nil {
		return rep, nil
	}
	rep, err := s.compute(ctx, r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if ver == s.version {
		if len(s.cache) >= maxCached {
			clear(s.cache)
		}
		s.cache[key] = rep
	}
	s.mu.Unlock()
	return rep, nil
}

// area is a resolved area: how to select its records.
type area struct {
	info  Area
	rect  tiles.Rect   // Query.Area (zero: the whole world)
	zones uint16       // the zone (tiles.Query.AreaZones), or 0
	muni  *tiles.Place // for a municipality: its boundary
}

func (s *Service) resolve(r *Request) (*area, error) {
	a := &area{info: Area{Kind: r.Area.Kind, Code: r.Area.Code}}
	switch r.Area.Kind {
	case AreaZone:
		a.zones = r.Filter.Zones
		zone, _ := r.Filter.ZoneIndex()
		a.info.Name = r.Area.Code
		if s.places != nil {
			if p, ok := s.places.Place(tiles.LevelZone, int64(zone)); ok {
				a.info.Name = p.Name
			}
		}
	case AreaBBox:
		a.rect = r.Area.Rect
		w, so, e, n := r.Area.Rect.LonLatBounds()
		a.info.BBox = &[4]float64{round(w, 7), round(so, 7), round(e, 7), round(n, 7)}
		req := r.Area.Requested
		a.info.Requested = &req
	case AreaMunicipality:
		var p *tiles.Place
		if s.places != nil {
			p, _ = s.places.ByCode(tiles.LevelMunicipality, r.Area.Code)
		}
		if p == nil || len(p.Shape) == 0 {
			return nil, &tiles.FilterError{Param: "municipality", Value: r.Area.Code, Reason: "unknown municipality (no boundary loaded for this ISTAT code)"}
		}
		a.muni = p
		a.info.Name, a.info.Population = p.Name, p.Population
		b := p.Shape.Bound()
		a.info.BBox = &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}
	default:
		return nil, fmt.Errorf("stats: unknown area kind %q", r.Area.Kind)
	}
	return a, nil
}

// selection is where one period's records are: a rectangle and a zone.
type selection struct {
	rect  tiles.Rect
	empty bool // nobody in the area in this window
}

func (s *Service) selectRecords(ctx context.Context, a *area, w Window) (selection, error) {
	if a.muni == nil {
		return selection{rect: a.rect}, nil
	}
	r, empty, err := boundaryRect(ctx, s.src, s.priv, a.muni.Shape, s.places.Bounds(a.muni), tiles.Filter{From: w.From, To: w.To})
	if errors.Is(err, errNotSeparable) {
		return selection{}, &tiles.FilterError{Param: "municipality", Value: a.info.Code,
			Reason: "its boundary runs between records, so its figures cannot be computed exactly: ask for a zone or a bbox"}
	}
	return selection{rect: r, empty: empty}, err
}

func (s *Service) compute(ctx context.Context, r Request) (*Report, error) {
	a, err := s.resolve(&r)
	if err != nil {
		return nil, err
	}
	rep := &Report{Area: a.info, By: r.By, K: s.priv.K, Timezone: s.loc.String(), Units: Units, Definitions: Definitions}
	rep.Filter = map[string]string{}
	for k, v := range r.Filter.Values() {
		if k != "from" && k != "to" && k != "zone" {
			rep.Filter[k] = strings.Join(v, ",")
		}
	}
	var dim *dimension
	if r.By != "" {
		d := dimensions[r.By]
		dim = &d
	}
	main, err := s.period(ctx, a, dim, r.Filter)
	if err != nil {
		return nil, err
	}
	rep.Period = *main
	if r.Compare != nil {
		f := r.Filter
		f.From, f.To = r.Compare.From, r.Compare.To
		ref, err := s.period(ctx, a, dim, f)
		if err != nil {
			return nil, err
		}
		rep.Comparison = ref
		rep.Change = changeOf(main, ref, dim)
	}
	return rep, nil
}

// period computes the figures of one window.
func (s *Service) period(ctx context.Context, a *area, dim *dimension, f tiles.Filter) (*Period, error) {
	p := &Period{TopOrigins: []Row{}, TopCountries: []Row{}}
	if !f.From.IsZero() {
		t := f.From.In(s.loc)
		p.From = &t
	}
	if !f.To.IsZero() {
		t := f.To.In(s.loc)
		p.To = &t
	}
	if dim != nil {
		p.Rows = []Row{}
	}
	f.Zone, f.Zones = "", 0 // the zone is the area, not a filter within it
	sel, err := s.selectRecords(ctx, a, Window{From: f.From, To: f.To})
	if err != nil {
		return nil, err
	}
	if sel.empty {
		p.Total = Row{Key: "total", Label: "All", Suppressed: true}
		return p, nil
	}
	narrowed := f.Narrowed()
	q := tiles.Query{Filter: f, Area: sel.rect, AreaZones: a.zones, Loc: s.loc, WithRest: narrowed}
	// The groupings: the total, the rows, the origins and the countries
	// (the rows when they are origins or countries).
	var (
		total, rows, origins, countries map[int64]tiles.Group
		va                              *visitTally
	)
	by, into := [][]tiles.Dim{nil}, []*map[int64]tiles.Group{&total}
	if dim != nil {
		by, into = append(by, []tiles.Dim{dim.dim}), append(into, &rows)
	}
	if dim == nil || dim.dim != tiles.DimMunicipality {
		by, into = append(by, []tiles.Dim{tiles.DimMunicipality}), append(into, &origins)
	}
	if dim == nil || dim.dim != tiles.DimNationality {
		by, into = append(by, []tiles.Dim{tiles.DimNationality}), append(into, &countries)
	}
	for _, m := range into {
		*m = map[int64]tiles.Group{}
	}
	// The groupings are one call of the source (tiles.AggregateMany): the
	// memory store answers them in one pass, each record and rollup entry
	// matched once (a month of a zone, weekends only, at 2 M records: 46-89
	// ms against 60-99 for the four scans, on a busy machine; without
	// narrowing filters, at 10 M, 64-97 ms by hour against 64-100 and
	// 88-91 ms by origin against 102-104), the PostGIS store with the
	// total in the statement of another grouping, other sources with a
	// query per grouping. The visits run beside them, started first: they
	// take longest (listing and tallying every visit; from PostGIS, six
	// months of a zone took 0.93-0.98 s of database CPU against 0.6-0.8 s
	// for each grouping), and started last, after the groupings of the
	// first slots, they ended the report alone.
	var jobs []func() error
	if s.visits != nil {
		jobs = append(jobs, func() (err error) { va, err = s.tallyVisits(ctx, q, dim); return err })
	}
	jobs = append(jobs, func() error {
		err := tiles.AggregateMany(ctx, s.src, q, by, func(i int, g tiles.Group) error {
			(*into[i])[g.Key[0]] = g
			return nil
		})
		if err != nil {
			return fmt.Errorf("stats: aggregating: %w", err)
		}
		return nil
	})
	if err := parallel(ctx, runtime.GOMAXPROCS(0), jobs); err != nil {
		return nil, err
	}
	if origins == nil {
		origins = rows
	}
	if countries == nil {
		countries = rows
	}

	tg, ok := total[0]
	p.Total = s.row("total", "All", tg, ok, narrowed, nil, false, false)
	// (the visits' job made the tallies: tallyVisits)
	if !p.Total.Suppressed && s.visits != nil {
		s.setVisits(&p.Total, tg, narrowed, va.totalTally(), true)
	}
	totalShown := !p.Total.Suppressed
	// The rows, in two halves, and the top lists are built side by side:
	// a report by origin has hundreds of rows, each published, named and
	// rated, and its top list publishes every origin again.
	var build []func() error
	if dim != nil {
		keys := slices.Collect(maps.Keys(rows))
		slices.SortFunc(keys, func(x, y int64) int { return cmp.Compare(dim.order(x), dim.order(y)) })
		// margins (tiles.Privacy.Margins): with the total published, one
		// withheld row would be the total minus the others
		people, withheld := make([]int64, len(keys)), make([]bool, len(keys))
		for i, k := range keys {
			people[i], withheld[i] = rows[k].People(), !s.priv.Allow(rows[k], narrowed)
		}
		if totalShown {
			s.priv.Margins(people, withheld)
		}
		p.Rows = make([]Row, len(keys))
		half := func(lo, hi int) func() error {
			return func() error {
				for i := lo; i < hi; i++ {
					k := keys[i]
					p.Rows[i] = s.row(dim.key(k), dim.label(k, s.names), rows[k], !withheld[i], narrowed, va.row(k), dim.visits, dim.repeat)
					s.addRate(&p.Rows[i], dim.level, k)
				}
				return nil
			}
		}
		build = append(build, half(0, len(keys)/2), half(len(keys)/2, len(keys)))
	}
	muni := dimensions["origin"]
	build = append(build, func() error {
		p.TopOrigins = s.top(origins, narrowed, func(k int64) bool { return k != 0 }, func(k int64) Row {
			row := s.row(muni.key(k), muni.label(k, s.names), origins[k], true, narrowed, nil, false, false)
			row.Level = tiles.LevelMunicipality.String()
			s.addRate(&row, tiles.LevelMunicipality, k)
			return row
		})
		return nil
	})
	nat := dimensions["nationality"]
	italy := int64(tiles.CountryIndex(tiles.Italy))
	build = append(build, func() error {
		p.TopCountries = s.top(countries, narrowed, func(k int64) bool { return k != 0 && k != italy }, func(k int64) Row {
			row := s.row(nat.key(k), nat.label(k, s.names), countries[k], true, narrowed, nil, false, false)
			row.Level = tiles.LevelCountry.String()
			return row
		})
		return nil
	})
	if err := parallel(ctx, runtime.GOMAXPROCS(0), build); err != nil {
		return nil, err
	}
	return p, nil
}

// parallel runs jobs concurrently, at most limit at a time, starting them
// in their order, and returns their errors joined. Jobs not started when
// ctx ends are skipped.
func parallel(ctx context.Context, limit int, jobs []func() error) error {
	sem := make(chan struct{}, limit)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, job := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = job()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// top ranks the published groups whose key passes keep by their published
// people (then key) and returns the first TopN as rows.
func (s *Service) top(groups map[int64]tiles.Group, narrowed bool, keep func(int64) bool, row func(int64) Row) []Row {
	var keys []int64
	people := map[int64]int64{}
	for k, g := range groups {
		if !keep(k) {
			continue
		}
		if _, v := s.priv.Publish(g, narrowed); !v.Suppressed() {
			keys = append(keys, k)
			people[k], _ = v.Int()
		}
	}
	slices.SortFunc(keys, func(a, b int64) int {
		if c := cmp.Compare(people[b], people[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	out := []Row{}
	for _, k := range keys[:min(len(keys), TopN)] {
		out = append(out, row(k))
	}
	return out
}

// addRate sets the population and the visitors per 1,000 residents of a
// row about a place.
func (s *Service) addRate(row *Row, l tiles.Level, key int64) {
	if l != tiles.LevelMunicipality && l != tiles.LevelProvince && l != tiles.LevelRegion || row.Key == unknownKey {
		return
	}
	info := s.names.info(l, key, row.Key)
	if info.population <= 0 {
		return
	}
	row.Population = info.population
	if row.Suppressed {
		return
	}
	if v, ok := row.Visitors.Value(); ok { // derived from the published figure
		row.Per1000 = tiles.Value(round(v*1000/float64(info.population), 2))
	}
}

// row builds a row from its group and its visits: the figures as
// tiles.Privacy publishes them (see docs/PRIVACY.md). A row not found, or
// withheld by the margin rule, is withheld whole.
func (s *Service) row(key, label string, g tiles.Group, publish, narrowed bool, v *visitGroup, withVisits, withRepeat bool) Row {
	row := Row{Key: key, Label: label}
	if publish {
		row.Presences, row.Visitors = s.priv.Publish(g, narrowed)
	}
	if !publish || row.Visitors.Suppressed() {
		return Row{Key: key, Label: label, Suppressed: true}
	}
	if withVisits && s.visits != nil {
		s.setVisits(&row, g, narrowed, v.tally(), withRepeat)
	}
	return row
}

// setVisits sets the visit figures of a published row from the tally of
// its visits.
func (s *Service) setVisits(row *Row, g tiles.Group, narrowed bool, t tiles.VisitTally, withRepeat bool) {
	vf := s.priv.Visits(t, g, narrowed)
	row.Visits, row.DwellMedian = vf.Visits, vf.DwellMedian
	row.DwellUnder30, row.Dwell30To120, row.DwellOver120 = vf.DwellShares[0], vf.DwellShares[1], vf.DwellShares[2]
	if withRepeat {
		row.Repeat = vf.Repeat
	}
}

// changeOf is cur minus ref, row by row (matched by key; none by date).
func changeOf(cur, ref *Period, dim *dimension) *Change {
	c := &Change{Total: changeRow(&cur.Total, &ref.Total)}
	if dim == nil {
		return c
	}
	c.Rows = []ChangeRow{}
	if dim.dim == tiles.DimDate {
		return c
	}
	refs := map[string]*Row{}
	for i := range ref.Rows {
		refs[ref.Rows[i].Key] = &ref.Rows[i]
	}
	for i := range cur.Rows {
		if r, ok := refs[cur.Rows[i].Key]; ok {
			c.Rows = append(c.Rows, changeRow(&cur.Rows[i], r))
		}
	}
	return c
}

func changeRow(cur, ref *Row) ChangeRow {
	out := ChangeRow{Key: cur.Key, Label: cur.Label, Level: cur.Level}
	if cur.Suppressed || ref.Suppressed {
		out.Suppressed = true
		return out
	}
	figs, deltas := indicators[tiles.Figure](), indicators[Delta]()
	for i, ind := range figs {
		*deltas[i].get(&out) = change(*ind.get(cur), *ind.get(ref), ind.digits)
	}
	return out
}

// Places returns the reference areas the service names and draws rows with.
func (s *Service) Places() *tiles.Gazetteer { return s.places }
