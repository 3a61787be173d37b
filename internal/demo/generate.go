// Package demo generates the deterministic demo data sets of its towns,
// Deruta and Torgiano (Towns): visits to the historic centre as sequences
// of presence records, with daily and weekly rhythms, a weekly market, the
// town's festival weekends, Italian visitors from real ISTAT municipalities
// by a gravity model and a seasonal share of foreign visitors. The same
// town and seed give the same records, byte for byte; the size is a
// parameter, so the generator also makes benchmark inputs.
package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // Europe/Rome on machines without zoneinfo: the same data everywhere

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// TimeZone is the towns' time zone: rhythms are in its local time.
const TimeZone = "Europe/Rome"

// DefaultVisits is the size of the default data set: about the CITIES
// figure for Deruta, almost 300,000 visits from January to August 2025.
const DefaultVisits = 300_000

// RecordsPerVisit is the measured mean number of records of a visit; it
// turns Config.Records into a number of visits.
const RecordsPerVisit = 6.75

// Config says which data set to generate. The zero Config is Deruta's
// default set: seed 0, about 300,000 visits from 1 January 2025 for eight
// months.
type Config struct {
	// Town is the demo town's code, Deruta ("" too) or Torgiano.
	Town string
	Seed uint64
	// Records is the approximate number of records wanted (within a few
	// per cent); 0 is the town's default size (DemoTown.DefaultVisits:
	// DefaultVisits for Deruta) over the default period (or as many per
	// day over another period).
	Records int
	// Start is the first day (its date in Europe/Rome); zero: 2025-01-01.
	Start time.Time
	// Months is the length of the period; 0: 8.
	Months int
}

// Generate streams the records of cfg's town to fn, day after day, each day's
// records in time order. fn is called from one goroutine at a time; the
// record it receives is its own. Generate stops at fn's first error and
// returns it.
func Generate(cfg Config, fn func(presence.Record) error) error {
	return GenerateWithIDs(cfg, func(r *presence.Record, _ string) error { return fn(*r) })
}

// GenerateWithIDs is Generate that also hands over, with each record, the
// visitor id whose presence.VisitorHash is r.Visitor ("" when it has
// none): what a CSV of the data set must carry to give the same hashes
// when ingested. r points into a buffer reused after fn returns.
func GenerateWithIDs(cfg Config, fn func(r *presence.Record, visitorID string) error) error {
	g, err := newGenerator(cfg)
	if err != nil {
		return err
	}
	return g.run(fn)
}

// Days returns the number of days of the period cfg covers.
func Days(cfg Config) (int, error) {
	c, err := cfg.normalise()
	if err != nil {
		return 0, err
	}
	return len(plan(specByCode(c.Town), c.Start, c.Months)), nil
}

func (c Config) normalise() (Config, error) {
	loc, err := time.LoadLocation(TimeZone)
	if err != nil {
		return c, fmt.Errorf("demo: time zone: %w", err)
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2025, time.January, 1, 0, 0, 0, 0, loc)
	} else {
		y, m, d := c.Start.Date()
		c.Start = time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	if c.Months == 0 {
		c.Months = 8
	}
	if c.Months < 0 || c.Months > 120 {
		return c, fmt.Errorf("demo: months %d out of range 1..120", c.Months)
	}
	if c.Records < 0 {
		return c, fmt.Errorf("demo: records %d is negative", c.Records)
	}
	if specByCode(c.Town) == nil {
		return c, fmt.Errorf("demo: no demo town %q (want %s or %s)", c.Town, Deruta, Torgiano)
	}
	return c, nil
}

// Kinds of visit.
const (
	kindRegular  = iota // a resident of the town or nearby: short, frequent
	kindVisitor         // an Italian or foreign visitor
	kindMarket          // the weekly market
	kindFestival        // a festival weekend
)

const (
	regularShare = 0.2    // of ordinary visits, made by regulars
	regularPool  = 3000.0 // regulars at Deruta's default size
	maxDwell     = 6 * 3600
	stepMin      = 270 // seconds between two records of a visit
	stepSpan     = 330 // ... plus up to this
)

type generator struct {
	s        *spec
	cfg      Config
	days     []dayPlan
	base     float64 // expected visits per unit of day weight
	regulars []person
	all      *gravity
	nearby   *gravity
	centre   ring
	seedStr  string
}

func newGenerator(cfg Config) (*generator, error) {
	c, err := cfg.normalise()
	if err != nil {
		return nil, err
	}
	s := specByCode(c.Town)
	g := &generator{s: s, cfg: c, days: plan(s, c.Start, c.Months), seedStr: strconv.FormatUint(c.Seed, 36)}
	weight := func(days []dayPlan) float64 {
		sum := 0.0
		for i := range days {
			sum += days[i].wOrdinary + days[i].wMarket + days[i].wFestival
		}
		return sum
	}
	def, _ := Config{}.normalise()
	g.base = s.scale * DefaultVisits / weight(plan(s, def.Start, def.Months))
	if c.Records > 0 {
		g.base = float64(c.Records) / RecordsPerVisit / weight(g.days)
	}
	g.all, g.nearby = s.origins()
	g.centre = newRing(s.zones()[0].Shape[0][0])
	// regulars: as many as the size asks, at least a few hundred
	scale := g.base * weight(g.days) / DefaultVisits
	n := max(200, int(math.Round(regularPool*scale)))
	rng := rand.New(rand.NewPCG(c.Seed, 0x5eed_0f_de_7a^s.salt))
	g.regulars = make([]person, n)
	for i := range g.regulars {
		p := &g.regulars[i]
		p.id = s.prefix + "r" + g.seedStr + "-" + strconv.Itoa(i)
		p.hash = presence.VisitorHash(p.id)
		p.nat = tiles.Italy
		p.origin = s.istat
		if rng.Float64() >= s.home {
			p.origin = g.nearby.pick(rng)
		}
		drawAttrs(rng, p, false)
	}
	return g, nil
}

// item is a generated record and its visit.
type item struct {
	rec   presence.Record
	visit int32
}

// order is an item's sort key (seconds since the day's start, then visit
// number: unique, as a visit has one record a second at most) and position.
type order struct {
	key int64
	i   int32
}

// dayOut is one day's records, their time order, and the visitor id of
// each visit.
type dayOut struct {
	items []item
	order []order
	ids   []string
}

// run generates the days in parallel, each from its own seeded random
// source, and hands them to fn in order. At most a few days wait in memory.
func (g *generator) run(fn func(*presence.Record, string) error) error {
	workers := max(1, runtime.GOMAXPROCS(0))
	slots := make([]chan *dayOut, len(g.days))
	for i := range slots {
		slots[i] = make(chan *dayOut, 1)
	}
	tokens := make(chan struct{}, 2*workers+1)
	free := make(chan *dayOut, cap(tokens))
	done := make(chan struct{})
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var w worker
			for {
				select {
				case tokens <- struct{}{}:
				case <-done:
					return
				}
				d := int(next.Add(1) - 1)
				if d >= len(g.days) {
					<-tokens
					return
				}
				var out *dayOut
				select {
				case out = <-free:
				default:
					out = new(dayOut)
				}
				w.day(g, &g.days[d], out)
				slots[d] <- out
			}
		})
	}
	defer func() {
		close(done)
		wg.Wait()
	}()
	for d := range g.days {
		out := <-slots[d]
		for _, o := range out.order {
			it := &out.items[o.i]
			id := ""
			if it.rec.Visitor != 0 {
				id = out.ids[it.visit]
			}
			if err := fn(&it.rec, id); err != nil {
				return err
			}
		}
		select {
		case free <- out:
		default:
		}
		<-tokens
	}
	return nil
}

// worker holds one goroutine's scratch space.
type worker struct {
	rng   *rand.Rand
	pcg   *rand.PCG
	path  path
	hours choice
	idbuf []byte
}

// day generates one day into out, reusing its buffers.
func (w *worker) day(g *generator, p *dayPlan, out *dayOut) {
	if w.pcg == nil {
		w.pcg = rand.NewPCG(0, 0)
		w.rng = rand.New(w.pcg)
		w.hours = make(choice, 24)
	}
	w.pcg.Seed(g.cfg.Seed, (uint64(p.index)*0x9e3779b97f4a7c15+1)^g.s.salt)
	rng := w.rng
	out.items, out.order, out.ids = out.items[:0], out.order[:0], out.ids[:0]

	// the day's arrival profile for ordinary visits
	month := p.start.Month()
	sum := 0.0
	for h, x := range p.hours {
		if h >= 19 && h <= 22 && month >= time.June && month <= time.August {
			x *= summerEvening
		}
		sum += x
		w.hours[h] = sum
	}
	for h := range w.hours {
		w.hours[h] /= sum
	}

	// a day's volume varies around its expectation
	count := func(weight float64) int {
		x := g.base * weight * math.Exp(0.12*rng.NormFloat64()-0.0072)
		n := int(x)
		if rng.Float64() < x-float64(n) {
			n++
		}
		return n
	}
	nOrd, nMkt, nFest := count(p.wOrdinary), count(p.wMarket), count(p.wFestival)
	nReg := min(int(regularShare*float64(nOrd)), len(g.regulars)/2)
	regs := rng.Perm(len(g.regulars))[:nReg] // distinct: one visit each a day
	for i := range nOrd + nMkt + nFest {
		var who person
		kind := kindVisitor
		switch {
		case i < nReg:
			kind, who = kindRegular, g.regulars[regs[i]]
		case i >= nOrd+nMkt:
			kind = kindFestival
		case i >= nOrd:
			kind = kindMarket
		}
		if kind != kindRegular {
			w.newPerson(g, rng, p, kind, len(out.ids), &who)
		}
		out.ids = append(out.ids, who.id)
		w.visit(g, rng, p, kind, &who, int32(len(out.ids)-1), out)
	}
	slices.SortFunc(out.order, func(a, b order) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
}

// newPerson draws a one-off visitor.
func (w *worker) newPerson(g *generator, rng *rand.Rand, p *dayPlan, kind, n int, who *person) {
	share := foreignShare[p.start.Month()-1]
	switch kind {
	case kindFestival:
		share += festivalForeign
	case kindMarket:
		share /= 3
	}
	foreign := rng.Float64() < share
	if foreign {
		who.nat = foreignWeights.country(rng)
	} else {
		who.nat = tiles.Italy
		if kind == kindMarket {
			who.origin = g.nearby.pick(rng)
		} else {
			who.origin = g.all.pick(rng)
		}
	}
	drawAttrs(rng, who, foreign)
	b := append(append(w.idbuf[:0], g.s.prefix...), 'v')
	b = append(b, g.seedStr...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(p.index), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(n), 10)
	w.idbuf = b
	who.id = string(b)
	who.hash = presence.VisitorHash(who.id)
}

// lognormal draws minutes around a median, returned in seconds.
func lognormal(rng *rand.Rand, medianMin, sigma float64) int {
	return int(medianMin * 60 * math.Exp(sigma*rng.NormFloat64()))
}

// visit generates one visit's records into out.
func (w *worker) visit(g *generator, rng *rand.Rand, p *dayPlan, kind int, who *person, v int32, out *dayOut) {
	// arrival
	hours := w.hours
	var fixed *[24]float64
	switch kind {
	case kindMarket:
		fixed = &hoursMarket
	case kindFestival:
		fixed = &hoursFestival
	}
	var h int
	if fixed != nil {
		h = pickHour(rng, fixed)
	} else {
		h = hours.pick(rng)
	}
	arrive := p.start.Add(time.Duration(h*3600+rng.IntN(3600)) * time.Second)
	if arrive.Hour() != h && arrive.Add(time.Hour).Before(p.end) { // a daylight-saving day: keep the local hour
		arrive = time.Date(p.start.Year(), p.start.Month(), p.start.Day(), h, arrive.Minute(), arrive.Second(), 0, p.start.Location())
	}
	if !arrive.Before(p.end) {
		arrive = p.end.Add(-time.Second)
	}

	// dwell
	var dwell int
	switch kind {
	case kindRegular:
		dwell = lognormal(rng, 12, 0.8)
	case kindMarket:
		dwell = lognormal(rng, 35, 0.5)
	case kindFestival:
		dwell = lognormal(rng, 80, 0.6)
	default:
		long := 0.45
		if who.nat != tiles.Italy {
			long = 0.7
		}
		if rng.Float64() < long {
			dwell = lognormal(rng, 55, 0.6)
		} else {
			dwell = lognormal(rng, 14, 0.7)
		}
	}
	dwell = min(dwell, maxDwell, int(p.end.Sub(arrive)/time.Second)-1)
	dwell = max(dwell, 0)

	// route
	rt := &g.s.route
	entries := rt.visitors
	if kind == kindRegular {
		entries = rt.regulars
	}
	entry := entries.pick(rng)
	var target int
	switch {
	case kind == kindMarket:
		entry, target = g.s.market.entry, 2+rng.IntN(3)
	case kind == kindFestival:
		target = rt.piazza
	case dwell < 15*60:
		target = rt.nearTarget(rng, &rt.entries[entry])
	case rng.Float64() < 0.45:
		target = rt.piazza
	default:
		target = 1 + rng.IntN(len(rt.axis)-2)
	}
	if len(rt.entries[entry].lead) > 0 && kind != kindMarket && target == rt.piazza && rng.Float64() < 0.5 {
		target = 2 + rng.IntN(len(rt.axis)-4)
	}
	museum := kind != kindMarket && dwell > 40*60 && rng.Float64() < 0.35
	w.path.tour(g.s, &rt.entries[entry], target, museum)

	// records
	base := int64(arrive.Sub(p.start) / time.Second)
	for t := 0; ; {
		f := 0.0
		if dwell > 0 {
			f = float64(t) / float64(dwell)
		}
		q, r := w.where(g.s, rng, kind, f)
		pt := g.s.jitter(rng, q, r)
		if !g.centre.contains(pt) {
			pt = q
		}
		out.items = append(out.items, item{
			rec: presence.Record{
				ObservedAt: arrive.Add(time.Duration(t) * time.Second),
				Lon:        round6(pt[0]), Lat: round6(pt[1]),
				Weight:  1,
				Visitor: who.hash, Age: who.age, Gender: who.gender, Nationality: who.nat,
				Origin: who.origin, Spend: who.spend,
			},
			visit: v,
		})
		out.order = append(out.order, order{key: (base+int64(t))<<21 | int64(v), i: int32(len(out.items) - 1)})
		if t >= dwell {
			break
		}
		t = min(t+stepMin+rng.IntN(stepSpan), dwell)
	}
}

// where returns where a visit of the kind is at fraction f of its dwell,
// and the scatter around it in metres.
func (w *worker) where(s *spec, rng *rand.Rand, kind int, f float64) (orb.Point, float64) {
	switch kind {
	case kindMarket: // at the stalls, then a walk up the corso and back
		if f < 0.6 {
			m := s.market
			return orb.Point{
				m.min[0] + rng.Float64()*(m.max[0]-m.min[0]),
				m.min[1] + rng.Float64()*(m.max[1]-m.min[1]),
			}, 0
		}
		return w.path.at((f - 0.6) / 0.4), 10
	case kindFestival: // in and out, and in between around the piazza and the corso
		switch {
		case f < 0.15:
			return w.path.at(f / 0.15 * 0.5), 10
		case f > 0.85:
			return w.path.at(0.5 + (f-0.85)/0.15*0.5), 10
		}
		axis, piazza := s.route.axis, s.route.piazza
		a, b := axis[piazza-1], axis[piazza+1]
		u := rng.Float64()
		return orb.Point{a[0] + (b[0]-a[0])*u, a[1] + (b[1]-a[1])*u}, 16
	}
	return w.path.at(f), 10
}

// nearTarget is where a short visit turns back: a few steps from its entry
// towards the piazza (the piazza itself for an entry that joins there).
func (rt *route) nearTarget(rng *rand.Rand, e *entry) int {
	n := 1 + rng.IntN(3)
	switch {
	case e.join < rt.piazza:
		return e.join + n
	case e.join > rt.piazza:
		return e.join - n
	}
	return rt.piazza
}

func pickHour(rng *rand.Rand, w *[24]float64) int {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	u := rng.Float64() * sum
	for h, x := range w {
		if u < x {
			return h
		}
		u -= x
	}
	return 23
}
