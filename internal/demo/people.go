package demo

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// derutaISTAT is Deruta's ISTAT municipality code.
const derutaISTAT = "054017"

// choice is a categorical distribution: cumulative weights.
type choice []float64

func newChoice(w ...float64) choice {
	c := make(choice, len(w))
	sum := 0.0
	for i, x := range w {
		sum += x
		c[i] = sum
	}
	for i := range c {
		c[i] /= sum
	}
	return c
}

// pick returns an index drawn from the distribution.
func (c choice) pick(r *rand.Rand) int {
	u := r.Float64()
	for i, x := range c {
		if u < x {
			return i
		}
	}
	return len(c) - 1
}

// Attribute mixes. Ages follow the CITIES figure (35-64 the largest group);
// foreign visitors are older and spend more.
var (
	ageItalian = newChoice(0.08, 0.07, 0.12, 0.17, 0.21, 0.18, 0.17)
	ageForeign = newChoice(0.05, 0.05, 0.11, 0.14, 0.19, 0.23, 0.23)
	genders    = newChoice(0.505, 0.49, 0.005)
	// spend by age band (index 0 = 0-17) for Italians; foreigners shift up.
	spendByAge = [7]choice{
		newChoice(0.7, 0.27, 0.03),
		newChoice(0.55, 0.38, 0.07),
		newChoice(0.35, 0.47, 0.18),
		newChoice(0.28, 0.5, 0.22),
		newChoice(0.25, 0.5, 0.25),
		newChoice(0.27, 0.5, 0.23),
		newChoice(0.4, 0.45, 0.15),
	}
	spendForeign = newChoice(0.12, 0.46, 0.42)
)

// foreignShare is the share of foreign visitors by month (index 0 =
// January): few in winter, many in summer.
var foreignShare = [12]float64{0.04, 0.04, 0.06, 0.10, 0.12, 0.14, 0.16, 0.17, 0.14, 0.10, 0.05, 0.05}

// festivalForeign is added to the foreign share of festival visits.
const festivalForeign = 0.05

// Foreign nationalities of visitors to an Umbrian ceramics town.
var (
	foreignCountries = []tiles.Country{
		{'U', 'S'}, {'D', 'E'}, {'F', 'R'}, {'G', 'B'}, {'N', 'L'}, {'B', 'E'}, {'C', 'H'}, {'E', 'S'},
		{'A', 'T'}, {'J', 'P'}, {'P', 'L'}, {'A', 'U'}, {'C', 'A'}, {'S', 'E'}, {'R', 'O'}, {'D', 'K'},
	}
	foreignWeights = newChoice(22, 18, 12, 11, 8, 5, 5, 4, 3, 3, 2, 2, 2, 2, 1.5, 1.5)
)

func (c choice) country(r *rand.Rand) tiles.Country { return foreignCountries[c.pick(r)] }

// person is who makes a visit.
type person struct {
	id     string // opaque visitor id
	hash   int64  // presence.VisitorHash(id)
	age    tiles.AgeBand
	gender tiles.Gender
	nat    tiles.Country
	origin string
	spend  tiles.Spend
}

// drawAttrs fills age, gender and spend of an Italian or foreign person.
func drawAttrs(r *rand.Rand, p *person, foreign bool) {
	ages := ageItalian
	if foreign {
		ages = ageForeign
	}
	a := ages.pick(r)
	p.age = tiles.AgeBands[a]
	p.gender = tiles.Genders[genders.pick(r)]
	sp := spendByAge[a]
	if foreign {
		sp = spendForeign
	}
	p.spend = tiles.Spends[sp.pick(r)]
}

// gravity draws the municipality of residence of Italian visitors: a
// gravity model, population / distance², with distance from the town
// floored at minKm. The town's own residents (whose point on surface lies
// elsewhere in its territory) count as living at the floor distance.
type gravity struct {
	codes []string
	cum   []float64 // cumulative, normalised
}

const minKm = 4.0

func newGravity(cat *refdata.Catalog, s *spec, maxKm float64) *gravity {
	town := s.centre
	g := &gravity{}
	sum := 0.0
	for _, m := range cat.Municipalities {
		if m.Population <= 0 {
			continue
		}
		d := distKm(town[0], town[1], m.Lon, m.Lat)
		if m.Code == s.istat {
			d = 0
		}
		if maxKm > 0 && d > maxKm {
			continue
		}
		d = math.Max(d, minKm)
		sum += float64(m.Population) / (d * d)
		g.codes = append(g.codes, m.Code)
		g.cum = append(g.cum, sum)
	}
	for i := range g.cum {
		g.cum[i] /= sum
	}
	return g
}

func (g *gravity) pick(r *rand.Rand) string {
	i := sort.SearchFloat64s(g.cum, r.Float64())
	if i >= len(g.codes) {
		i = len(g.codes) - 1
	}
	return g.codes[i]
}

// distKm is the great-circle distance in kilometres.
func distKm(lon1, lat1, lon2, lat2 float64) float64 {
	const rad = math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * 6371 * math.Asin(math.Sqrt(a))
}

// origins returns the town's gravity models: of Italian visitors, and of
// regulars from outside the town (within 20 km).
func (s *spec) origins() (all, nearby *gravity) {
	s.gravityOnce.Do(func() {
		cat := refdata.Italy()
		s.gravityAll = newGravity(cat, s, 0)
		s.gravityNearby = newGravity(cat, s, 20)
	})
	return s.gravityAll, s.gravityNearby
}
