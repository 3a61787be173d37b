package tiles

// DefaultK is the default privacy threshold: the published minimum of
// Italian mobile-operator analytics.
const DefaultK = 15

// Privacy is the k-anonymity rule every published figure passes.
//
// What flowtiles guarantees, for every tile feature, stats row and live count:
//   - a figure is published only when it is about at least K distinct people
//     (Measures.People: each visitor id once, each record without an id as
//     its weight); below that it is withheld and marked suppressed;
//   - a figure computed with narrowing filters (hours, days, age, gender,
//     nationality, origin, spending class) is also withheld when the people
//     those filters remove from the same cell, window and zone number 1 to
//     K-1 (complementary suppression): comparing a filtered figure with the
//     unfiltered one cannot isolate a small group;
//   - time windows are whole hours, and areas are fixed cells (bins of a
//     global grid, zones, municipalities, origin areas), never arbitrary
//     shapes.
//
// What it does not guarantee: a client combining several published figures
// (two nested sets of values of one attribute, two overlapping time windows)
// may still compute the difference of two figures that each passed. That
// residual risk is bounded by the cell sizes and hour granularity above and is
// documented in docs/PRIVACY.md; closing it fully needs noise, which would
// make the figures inexact.
type Privacy struct {
	K int64
}

// Allow reports whether a group may be published. narrowed says whether the
// query had narrowing filters (Filter.Narrowed); then g.Rest must be set.
func (p Privacy) Allow(g Group, narrowed bool) bool {
	if g.Count <= 0 || g.People() < p.K {
		return false
	}
	if narrowed && g.Rest.Count > 0 && g.Rest.People() < p.K {
		return false
	}
	return true
}
