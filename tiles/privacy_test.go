package tiles

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

var testSecret = []byte("a test secret of 32 bytes, fixed")

func testPrivacy(t testing.TB) Privacy {
	t.Helper()
	p, err := NewPrivacy(DefaultK, testSecret, DefaultNoiseD, DefaultNoiseGrowth)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// people returns a group of n distinct visitors (and n presences) whose
// keys sum to key.
func people(n int64, key uint32) Group {
	return Group{Measures: Measures{Count: n, Visitors: n, CountKey: key, PeopleKey: key}}
}

// TestDisclosureRules is the table of docs/PRIVACY.md: what is published
// about a group, alone (rules 1-3) and in a table (rule 4).
func TestDisclosureRules(t *testing.T) {
	p := testPrivacy(t)
	k := p.K
	withRest := func(g Group, rest Measures) Group { g.Rest = rest; return g }
	for name, c := range map[string]struct {
		g        Group
		narrowed bool
		publish  bool
	}{
		"nobody":                                 {Group{}, false, false},
		"one person":                             {people(1, 7), false, false},
		"k-1 people":                             {people(k-1, 7), false, false},
		"k people":                               {people(k, 7), false, true},
		"k records of one visitor":               {Group{Measures: Measures{Count: k, Visitors: 1}}, false, false},
		"a counter's record of weight k":         {Group{Measures: Measures{Count: k, Anonymous: k}}, false, true},
		"filters removing 1 to k-1 people":       {withRest(people(40, 7), Measures{Count: 3, Visitors: 3}), true, false},
		"filters removing k-1 anonymous people":  {withRest(people(40, 7), Measures{Count: k - 1, Anonymous: k - 1}), true, false},
		"filters removing nobody":                {withRest(people(40, 7), Measures{}), true, true},
		"filters removing k people":              {withRest(people(40, 7), Measures{Count: k, Visitors: k}), true, true},
		"no narrowing filter: the rest is moot":  {withRest(people(40, 7), Measures{Count: 3, Visitors: 3}), false, true},
		"k people under filters removing 1":      {withRest(people(k, 7), Measures{Count: 1, Visitors: 1}), true, false},
		"many presences of k-1 people":           {Group{Measures: Measures{Count: 500, Visitors: k - 1}}, false, false},
		"k-1 visitors and one anonymous counter": {Group{Measures: Measures{Count: k + 9, Visitors: k - 1, Anonymous: 10}}, false, true},
	} {
		t.Run(name, func(t *testing.T) {
			count, ppl := p.Publish(c.g, c.narrowed)
			c1, ok1 := count.Int()
			v, ok2 := ppl.Int()
			if ok1 != c.publish || ok2 != c.publish {
				t.Fatalf("published %v/%v, want %v", ok1, ok2, c.publish)
			}
			if !c.publish {
				if !count.Suppressed() || !ppl.Suppressed() {
					t.Errorf("a withheld group must be marked withheld: %+v %+v", count, ppl)
				}
				return
			}
			n := c.g.People()
			if v < k || v > n+p.Bound(n) || v < n-p.Bound(n) && n-p.Bound(n) >= k {
				t.Errorf("people %d published as %d (bound %d, k %d)", n, v, p.Bound(n), k)
			}
			if c1 < v {
				t.Errorf("presences %d below people %d", c1, v)
			}
		})
	}
}

func TestMargins(t *testing.T) {
	p := testPrivacy(t)
	for name, c := range map[string]struct {
		people         []int64
		withheld, want []bool
	}{
		"one hidden row takes the smallest with it": {[]int64{40, 3, 25, 90}, []bool{false, true, false, false}, []bool{false, true, true, false}},
		"ties: the first":                       {[]int64{25, 3, 25}, []bool{false, true, false}, []bool{true, true, false}},
		"two hidden rows: nothing more":         {[]int64{40, 3, 2, 90}, []bool{false, true, true, false}, []bool{false, true, true, false}},
		"nothing hidden":                        {[]int64{40, 90}, []bool{false, false}, []bool{false, false}},
		"a hidden row of nobody does not count": {[]int64{40, 0, 90}, []bool{false, true, false}, []bool{false, true, false}},
		"a single row":                          {[]int64{3}, []bool{true}, []bool{true}},
	} {
		t.Run(name, func(t *testing.T) {
			w := append([]bool(nil), c.withheld...)
			p.Margins(c.people, w)
			for i := range w {
				if w[i] != c.want[i] {
					t.Fatalf("withheld %v, want %v", w, c.want)
				}
			}
		})
	}
}

func TestVisitRules(t *testing.T) {
	p := UnperturbedForTests(15)
	pub := people(40, 1)
	narrowedRest := func(n int64) Group { g := pub; g.Rest = Measures{Count: n, Visitors: n}; return g }
	base := VisitTally{Visits: 50, Visitors: 30, Repeat: 15, BandVisits: [3]int64{20, 20, 10}, BandVisitors: [3]int64{15, 15, 15}, MedianDwell: 44.5 * 60}
	with := func(f func(*VisitTally)) VisitTally { t := base; f(&t); return t }
	type want struct{ visits, median, shares, repeat string }
	show := func(f Figure) string {
		if v, ok := f.Value(); ok {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return "-"
	}
	for name, c := range map[string]struct {
		t        VisitTally
		g        Group
		narrowed bool
		want     want
	}{
		"enough visitors":                   {base, pub, false, want{"50", "45", "0.4 0.4 0.2", "15"}},
		"k-1 visitors":                      {with(func(t *VisitTally) { t.Visitors = 14 }), pub, false, want{"-", "-", "- - -", "-"}},
		"no visitor with an id":             {VisitTally{}, pub, false, want{"0", "-", "- - -", "-"}},
		"filters removing 3 visitors":       {base, narrowedRest(3), true, want{"-", "-", "- - -", "-"}},
		"filters removing 20 visitors":      {base, narrowedRest(20), true, want{"50", "45", "0.4 0.4 0.2", "15"}},
		"a band of 2 visitors":              {with(func(t *VisitTally) { t.BandVisitors[2] = 2 }), pub, false, want{"50", "45", "- - -", "15"}},
		"an empty band":                     {with(func(t *VisitTally) { t.BandVisits[2], t.BandVisitors[2] = 0, 0 }), pub, false, want{"50", "45", "0.5 0.5 0", "15"}},
		"3 repeat visitors":                 {with(func(t *VisitTally) { t.Repeat = 3 }), pub, false, want{"50", "45", "0.4 0.4 0.2", "-"}},
		"all but 3 repeat":                  {with(func(t *VisitTally) { t.Repeat = 27 }), pub, false, want{"50", "45", "0.4 0.4 0.2", "-"}},
		"nobody repeats":                    {with(func(t *VisitTally) { t.Repeat = 0 }), pub, false, want{"50", "45", "0.4 0.4 0.2", "0"}},
		"a median rounded to 5 minutes":     {with(func(t *VisitTally) { t.MedianDwell = 22 * 60 }), pub, false, want{"50", "20", "0.4 0.4 0.2", "15"}},
		"a median of 2.4 minutes shows 0":   {with(func(t *VisitTally) { t.MedianDwell = 144 }), pub, false, want{"50", "0", "0.4 0.4 0.2", "15"}},
		"a median of 2.6 minutes shows 5":   {with(func(t *VisitTally) { t.MedianDwell = 156 }), pub, false, want{"50", "5", "0.4 0.4 0.2", "15"}},
		"visitors enough, narrowed rest 0":  {base, narrowedRest(0), true, want{"50", "45", "0.4 0.4 0.2", "15"}},
		"repeat of exactly k":               {with(func(t *VisitTally) { t.Repeat = 15 }), pub, false, want{"50", "45", "0.4 0.4 0.2", "15"}},
		"one-day visitors of exactly k":     {with(func(t *VisitTally) { t.Visitors, t.Repeat = 30, 15 }), pub, false, want{"50", "45", "0.4 0.4 0.2", "15"}},
		"one-day visitors fewer than k (1)": {with(func(t *VisitTally) { t.Visitors, t.Repeat = 30, 29 }), pub, false, want{"50", "45", "0.4 0.4 0.2", "-"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := p.Visits(c.t, c.g, c.narrowed)
			got := want{show(f.Visits), show(f.DwellMedian), show(f.DwellShares[0]) + " " + show(f.DwellShares[1]) + " " + show(f.DwellShares[2]), show(f.Repeat)}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestTypical(t *testing.T) {
	v := Value
	w := Withheld()
	for name, c := range map[string]struct {
		past []Figure
		want string
	}{
		"lower median of three":              {[]Figure{v(30), v(12), v(18)}, `{"value":18}`},
		"lower median of four":               {[]Figure{v(30), v(12), v(18), v(40)}, `{"value":18}`},
		"a withheld week counts as smallest": {[]Figure{w, v(30), v(18)}, `{"value":18}`},
		"the median week was withheld":       {[]Figure{w, w, v(30)}, `{"suppressed":true}`},
		"no history":                         {nil, `null`},
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := Typical(c.past).MarshalJSON()
			if string(b) != c.want {
				t.Errorf("got %s, want %s", b, c.want)
			}
		})
	}
}

// The perturbation table: bounded, unbiased beyond the fold, uniform, never
// below k, within 5% from 100 people up with the defaults, and the same for
// the same people.
func TestPerturbationTable(t *testing.T) {
	p := testPrivacy(t)
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	for _, n := range []int64{15, 16, 20, 40, 99, 100, 101, 150, 400, 1000, 12345, 1000000} {
		b := p.Bound(n)
		if n >= 100 && float64(b) > 0.05*float64(n) {
			t.Errorf("n=%d: bound %d is over 5%%", n, b)
		}
		if b < p.D {
			t.Errorf("n=%d: bound %d below D=%d", n, b, p.D)
		}
		const draws = 20000
		counts := map[int64]int{}
		var sum float64
		for range draws {
			key := rng.Uint32()
			v := p.Perturb(KindPeople, n, key)
			if v != p.Perturb(KindPeople, n, key) {
				t.Fatalf("n=%d key=%d: two answers", n, key)
			}
			if v < p.K {
				t.Fatalf("n=%d: published %d < k", n, v)
			}
			if d := v - n; d > b || d < -b && n-b >= p.K {
				t.Fatalf("n=%d: noise %d beyond the bound %d", n, d, b)
			}
			counts[v]++
			sum += float64(v - n)
		}
		if n-b >= p.K { // no folding: uniform over n-b..n+b, mean 0
			if len(counts) != int(2*b+1) {
				t.Errorf("n=%d: %d distinct values, want %d", n, len(counts), 2*b+1)
			}
			want := float64(draws) / float64(2*b+1)
			for v, c := range counts {
				if math.Abs(float64(c)-want) > 6*math.Sqrt(want) {
					t.Errorf("n=%d: value %d drawn %d times, want about %.0f", n, v, c, want)
				}
			}
			if mean := sum / draws; math.Abs(mean) > 6*float64(b)/math.Sqrt(3*draws) {
				t.Errorf("n=%d: mean noise %.3f", n, mean)
			}
		}
	}
}

// Figures of the same people agree; different kinds and different secrets
// give independent noise; the zero Privacy refuses to publish.
func TestCellKeys(t *testing.T) {
	p := testPrivacy(t)
	other, err := NewPrivacy(DefaultK, []byte("another secret of 32 bytes, too!"), DefaultNoiseD, DefaultNoiseGrowth)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(testSeed(t), 2))
	const n, draws = 200, 20000
	sameKind, sameSecret := 0, 0
	for range draws {
		key := rng.Uint32()
		if p.Perturb(KindPeople, n, key) == p.Perturb(KindPresences, n, key) {
			sameKind++
		}
		if p.Perturb(KindPeople, n, key) == other.Perturb(KindPeople, n, key) {
			sameSecret++
		}
	}
	chance := float64(draws) / float64(2*p.Bound(n)+1)
	for what, c := range map[string]int{"presences and people of one group": sameKind, "two secrets": sameSecret} {
		if math.Abs(float64(c)-chance) > 6*math.Sqrt(chance) {
			t.Errorf("%s: equal noise %d times in %d, want about %.0f (independent)", what, c, draws, chance)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("the zero Privacy published a figure")
		}
	}()
	Privacy{K: 15}.Publish(people(40, 1), false)
}

func TestNewPrivacyRefusesNoProtection(t *testing.T) {
	for name, c := range map[string]struct {
		k      int64
		secret []byte
		d      int64
		growth float64
	}{
		"k below 5":       {4, testSecret, 5, 0.5},
		"no noise":        {15, testSecret, 0, 0.5},
		"noise of 1":      {15, testSecret, 1, 0.5},
		"negative growth": {15, testSecret, 5, -1},
		"huge growth":     {15, testSecret, 5, 3},
		"NaN growth":      {15, testSecret, 5, math.NaN()},
		"no secret":       {15, nil, 5, 0.5},
		"a short secret":  {15, []byte("short"), 5, 0.5},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewPrivacy(c.k, c.secret, c.d, c.growth); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := NewPrivacy(MinK, testSecret, MinNoiseD, 0); err != nil {
		t.Errorf("the minimum settings: %v", err)
	}
}
