package stats

import (
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// Report is the answer to a stats request: what the JSON response holds
// (see docs/API.md).
type Report struct {
	Area     Area   `json:"area"`
	By       string `json:"by,omitempty"`
	K        int64  `json:"k"`
	Timezone string `json:"timezone"`
	// Filter holds the narrowing filters as canonical query parameters.
	Filter      map[string]string `json:"filter"`
	Period      Period            `json:"period"`
	Comparison  *Period           `json:"comparison,omitempty"`
	Change      *Change           `json:"change,omitempty"`
	Units       map[string]string `json:"units"`
	Definitions map[string]string `json:"definitions"`
}

// Area describes the area of a report.
type Area struct {
	Kind       AreaKind `json:"kind"`
	Code       string   `json:"code,omitempty"`
	Name       string   `json:"name,omitempty"`
	Population int64    `json:"population,omitempty"`
	// BBox is west, south, east, north: the snapped box, or the bounds of
	// the municipality's boundary.
	BBox *[4]float64 `json:"bbox,omitempty"`
	// Requested is the box as asked (bbox only).
	Requested *[4]float64 `json:"requested,omitempty"`
}

// Period holds the figures of one time window.
type Period struct {
	From *time.Time `json:"from"`
	To   *time.Time `json:"to"`
	// Total is the row of the whole area.
	Total Row `json:"total"`
	// Rows are the groups of By (nil without By).
	Rows         []Row `json:"rows,omitzero"`
	TopOrigins   []Row `json:"top_origins"`
	TopCountries []Row `json:"top_countries"`
}

// Change is one period minus the comparison period.
type Change struct {
	Total ChangeRow   `json:"total"`
	Rows  []ChangeRow `json:"rows,omitzero"`
}

// Fields are the figures of a row: Figure for a period, Delta for a change.
// Figures that do not apply to a row are zero and left out.
type Fields[F any] struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	// Level is the level of the place a top-list row is about.
	Level string `json:"level,omitempty"`
	// Suppressed marks a row withheld whole: it has no figures.
	Suppressed   bool  `json:"suppressed,omitempty"`
	Presences    F     `json:"presences,omitzero"`
	Visitors     F     `json:"visitors,omitzero"`
	Visits       F     `json:"visits,omitzero"`
	DwellMedian  F     `json:"dwell_median_minutes,omitzero"`
	DwellUnder30 F     `json:"dwell_under_30_share,omitzero"`
	Dwell30To120 F     `json:"dwell_30_120_share,omitzero"`
	DwellOver120 F     `json:"dwell_over_120_share,omitzero"`
	Repeat       F     `json:"repeat_visitors,omitzero"`
	Population   int64 `json:"population,omitempty"`
	Per1000      F     `json:"visitors_per_1000_residents,omitzero"`
}

// Row is a row of a period.
type Row = Fields[tiles.Figure]

// ChangeRow is a row of a change.
type ChangeRow = Fields[Delta]

// indicator names a figure of a row, for CSV columns and changes.
type indicator[F any] struct {
	name   string
	digits int // decimals of changes
	get    func(*Fields[F]) *F
}

func indicators[F any]() []indicator[F] {
	return []indicator[F]{
		{"presences", 0, func(r *Fields[F]) *F { return &r.Presences }},
		{"visitors", 0, func(r *Fields[F]) *F { return &r.Visitors }},
		{"visits", 0, func(r *Fields[F]) *F { return &r.Visits }},
		{"dwell_median_minutes", 1, func(r *Fields[F]) *F { return &r.DwellMedian }},
		{"dwell_under_30_share", 4, func(r *Fields[F]) *F { return &r.DwellUnder30 }},
		{"dwell_30_120_share", 4, func(r *Fields[F]) *F { return &r.Dwell30To120 }},
		{"dwell_over_120_share", 4, func(r *Fields[F]) *F { return &r.DwellOver120 }},
		{"repeat_visitors", 0, func(r *Fields[F]) *F { return &r.Repeat }},
		{"visitors_per_1000_residents", 2, func(r *Fields[F]) *F { return &r.Per1000 }},
	}
}

// Units of the indicators, as sent with every report.
var Units = map[string]string{
	"presences":                   "presences (sum of record weights: one observation of one person counts 1)",
	"visitors":                    "people (distinct)",
	"visits":                      "visits",
	"dwell_median_minutes":        "minutes",
	"dwell_under_30_share":        "share of visits, 0-1",
	"dwell_30_120_share":          "share of visits, 0-1",
	"dwell_over_120_share":        "share of visits, 0-1",
	"repeat_visitors":             "people (distinct)",
	"population":                  "residents (ISTAT 2011 census)",
	"visitors_per_1000_residents": "visitors per 1,000 residents of the origin area",
	"change.absolute":             "the indicator's unit (shares: share points)",
	"change.relative":             "fraction of the comparison period's value",
}

// Definitions of what the figures count, as sent with every report.
var Definitions = map[string]string{
	"presences": "The sum of the weights of the matching records: a record stands for weight people observed once.",
	"visitors":  "Distinct people: each visitor id once, plus the weight of each record without a visitor id.",
	"visit": "One visitor (records with a visitor id) present in the area on one local day: all their matching records in the area that day. " +
		"Records without a visitor id form no visits.",
	"dwell": "Last minus first matching record of a visit. A visit with a single record has dwell 0 and counts as under 30 minutes. " +
		"Bands: under 30 minutes, 30 to under 120, 120 and over.",
	"repeat_visitor": "A visitor with visits on at least two distinct local days within the period.",
	"rows": "By date and day of week a visit belongs to its day; by an attribute to the attributes of its first record; " +
		"by hour there are no visit figures (a visit spans hours).",
	"per_1000_residents": "Visitors from the origin area per 1,000 of its residents (ISTAT 2011 census).",
	"suppressed": "Withheld because it is about fewer than k people, or because the narrowing filters remove 1 to k-1 people " +
		"from it (complementary suppression), or because it is the smallest other row of a table with one withheld row (margins), " +
		"or (dwell, repeat visitors) because a part of it is. Never zeroed.",
	"perturbation": "Every published count carries a small noise that is the same for the same people wherever it is asked " +
		"(the cell key method): at most 5 below 100 people, at most 5% from 100 up, never below k. Shares, rates and changes " +
		"are computed from the published counts; median dwell times are given in steps of 5 minutes.",
	"change": "Period minus comparison period; relative = absolute / comparison value. Given only when both are published; periods never overlap.",
	"area":   "A zone: records in the zone. A municipality: records inside its boundary. A bbox: snapped outward to 2^14 world units (about 110 m).",
}
