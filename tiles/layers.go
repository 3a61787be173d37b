package tiles

// Tile layers served at /tiles/{layer}/{z}/{x}/{y}.mvt.
const (
	LayerDensity = "density"
	LayerOrigins = "origins"
	LayerFlows   = "flows"
	LayerZones   = "zones"
)

// Vector layers inside the tiles (MVT layer names).
const (
	LayerDensityPoints = "density_points"
)

// VectorLayer describes one MVT layer of a tile, as TileJSON's
// vector_layers does.
type VectorLayer struct {
	ID          string            `json:"id"`
	Description string            `json:"description"`
	Fields      map[string]string `json:"fields"`
	MinZoom     int               `json:"minzoom"`
	MaxZoom     int               `json:"maxzoom"`
}

// LayerSpec describes a tile layer endpoint.
type LayerSpec struct {
	Name        string
	Title       string
	Description string
	MinZoom     int
	MaxZoom     int
	Vector      []VectorLayer
}

const (
	fCount      = "Number: presences (sum of record weights) in the window, perturbed (docs/PRIVACY.md); absent when suppressed"
	fVisitors   = "Number: distinct people (each visitor id once, plus the weight of records without an id), perturbed; absent when suppressed"
	fSuppressed = "Boolean: true when fewer than k people (or a complementary group of fewer than k) are behind the figure; counts are then withheld"
)

// Layers lists the tile layers in catalog order.
var Layers = []LayerSpec{
	{
		Name: LayerDensity, Title: "Flow density",
		Description: "Presence aggregated into bins of a global grid (hexagons, or squares with bins=square), 16 across a tile at every zoom.",
		MinZoom:     0, MaxZoom: 20,
		Vector: []VectorLayer{
			{ID: LayerDensity, Description: "Bins overlapping the tile; the feature id is unique across the zoom, so a bin drawn by two tiles is the same bin.",
				Fields: map[string]string{"count": fCount, "visitors": fVisitors, "suppressed": fSuppressed}, MaxZoom: 20},
			{ID: LayerDensityPoints, Description: "Centres of the published bins whose centre lies in the tile (each bin exactly once), for heatmaps.",
				Fields: map[string]string{"count": fCount, "visitors": fVisitors}, MaxZoom: 20},
		},
	},
	{
		Name: LayerOrigins, Title: "Origins",
		Description: "Where the people present come from: regions (zoom ≤ 6), provinces (7–8) and municipalities (≥ 9) of residence in Italy, and countries of nationality for foreign visitors.",
		MinZoom:     0, MaxZoom: 14,
		Vector: []VectorLayer{
			{ID: LayerOrigins, Description: "Origin areas with the people from them in the filtered window.",
				Fields: map[string]string{
					"code": "String: ISTAT code (municipality 6 digits, province 3, region 2) or ISO 3166-1 alpha-2 country",
					"name": "String: name", "level": "String: municipality, province, region or country",
					"count": fCount, "visitors": fVisitors,
					"share":              "Number: visitors from this origin / all visitors in the window (0-1)",
					"per_1000_residents": "Number: visitors per 1,000 residents of the origin (ISTAT 2011 census; Natural Earth for countries)",
					"suppressed":         fSuppressed,
				}, MaxZoom: 14},
		},
	},
	{
		Name: LayerFlows, Title: "Flows",
		Description: "Origin-to-destination lines from each origin's representative point to the zone visited (or the town centre outside zones): the 50 strongest of the filter, each drawn whole across the tiles it crosses.",
		MinZoom:     0, MaxZoom: 16,
		Vector: []VectorLayer{
			{ID: LayerFlows, Description: "Weighted origin-destination lines; suppressed pairs are left out.",
				Fields: map[string]string{
					"origin": "String: origin code", "origin_name": "String: origin name", "origin_level": "String: municipality, province, region or country",
					"destination": "String: zone name, or \"town\" for presence outside every zone",
					"count":       fCount, "visitors": fVisitors, "rank": "Number: 1 for the strongest flow of the view",
				}, MaxZoom: 16},
		},
	},
	{
		Name: LayerZones, Title: "Zones",
		Description: "The town's zones (historic centre, squares, streets, parking) with the people in them.",
		MinZoom:     10, MaxZoom: 20,
		Vector: []VectorLayer{
			{ID: LayerZones, Description: "Town zones with counts in the filtered window.",
				Fields:  map[string]string{"code": "String: zone code (the value of the zone filter)", "name": "String: zone name", "zone": "String: zone index", "count": fCount, "visitors": fVisitors, "suppressed": fSuppressed},
				MinZoom: 10, MaxZoom: 20},
		},
	},
}

// LayerNames lists the tile layer names.
func LayerNames() []string {
	out := make([]string, len(Layers))
	for i, l := range Layers {
		out[i] = l.Name
	}
	return out
}

// Layer returns the spec of a tile layer.
func Layer(name string) (LayerSpec, bool) {
	for _, l := range Layers {
		if l.Name == name {
			return l, true
		}
	}
	return LayerSpec{}, false
}
