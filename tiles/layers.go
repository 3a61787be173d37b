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
// vector_layers does. Fields holds each field's type as MBTiles and GDAL
// read it ("Number", "String", "Boolean"); FieldDescriptions says what
// each field is (a key of flowtiles' own, which TileJSON readers ignore).
type VectorLayer struct {
	ID                string            `json:"id"`
	Description       string            `json:"description"`
	Fields            map[string]string `json:"fields"`
	FieldDescriptions map[string]string `json:"field_descriptions,omitempty"`
	MinZoom           int               `json:"minzoom"`
	MaxZoom           int               `json:"maxzoom"`
}

// Field types of VectorLayer.Fields.
const (
	TypeNumber  = "Number"
	TypeString  = "String"
	TypeBoolean = "Boolean"
)

// Field is one attribute of a vector layer.
type Field struct {
	Name, Type, Description string
}

// vectorLayer builds a VectorLayer from its fields.
func vectorLayer(id, description string, minZoom, maxZoom int, fields ...Field) VectorLayer {
	v := VectorLayer{ID: id, Description: description, MinZoom: minZoom, MaxZoom: maxZoom,
		Fields: map[string]string{}, FieldDescriptions: map[string]string{}}
	for _, f := range fields {
		v.Fields[f.Name] = f.Type
		v.FieldDescriptions[f.Name] = f.Description
	}
	return v
}

// LayerSpec describes a tile layer endpoint.
type LayerSpec struct {
	Name        string
	Title       string
	Description string
	MinZoom     int
	MaxZoom     int
	Vector      []VectorLayer
	// PromoteID is the field that identifies a feature across tiles and
	// zooms (MapLibre's promoteId), "" when the MVT feature id does.
	PromoteID string
}

var (
	fCount      = Field{"count", TypeNumber, "presences (sum of record weights) in the window, perturbed (docs/PRIVACY.md); absent when suppressed"}
	fVisitors   = Field{"visitors", TypeNumber, "distinct people (each visitor id once, plus the weight of records without an id), perturbed; absent when suppressed"}
	fSuppressed = Field{"suppressed", TypeBoolean, "true when fewer than k people (or a complementary group of fewer than k) are behind the figure; counts are then withheld"}
)

// Layers lists the tile layers in catalog order.
var Layers = []LayerSpec{
	{
		Name: LayerDensity, Title: "Flow density",
		Description: "Presence aggregated into bins of a global grid (hexagons, or squares with bins=square), 16 across a tile at every zoom.",
		MinZoom:     0, MaxZoom: 20,
		Vector: []VectorLayer{
			vectorLayer(LayerDensity, "Bins overlapping the tile; the feature id is unique across the zoom, so a bin drawn by two tiles is the same bin.",
				0, 20, fCount, fVisitors, fSuppressed),
			vectorLayer(LayerDensityPoints, "Centres of the published bins whose centre lies in the tile (each bin exactly once), for heatmaps; the feature id is the bin's.",
				0, 20, fCount, fVisitors),
		},
	},
	{
		Name: LayerOrigins, Title: "Origins",
		Description: "Where the people present come from: regions (zoom ≤ 6), provinces (7–8) and municipalities (≥ 9) of residence in Italy, and countries of nationality for foreign visitors.",
		MinZoom:     0, MaxZoom: 14, PromoteID: "code",
		Vector: []VectorLayer{
			vectorLayer(LayerOrigins, "Origin areas with the people from them in the filtered window. The feature id (level and code) is the same in every tile and zoom; so is code.",
				0, 14,
				Field{"code", TypeString, "ISTAT code (municipality 6 digits, province 3, region 2) or ISO 3166-1 alpha-2 country"},
				Field{"name", TypeString, "name"},
				Field{"level", TypeString, "municipality, province, region or country"},
				fCount, fVisitors,
				Field{"share", TypeNumber, "visitors from this origin / all visitors in the window (0-1)"},
				Field{"per_1000_residents", TypeNumber, "visitors per 1,000 residents of the origin (ISTAT 2011 census; Natural Earth for countries)"},
				fSuppressed),
		},
	},
	{
		Name: LayerFlows, Title: "Flows",
		Description: "Origin-to-destination lines from each origin's representative point to the zone visited (or the town centre outside zones): the 50 strongest of the filter, each drawn whole across the tiles it crosses.",
		MinZoom:     0, MaxZoom: 16, PromoteID: "flow",
		Vector: []VectorLayer{
			vectorLayer(LayerFlows, "Weighted origin-destination lines; suppressed pairs are left out. The feature id (origin and destination) is the same in every tile and zoom; so is flow.",
				0, 16,
				Field{"flow", TypeString, "the pair: origin code, \">\", destination"},
				Field{"origin", TypeString, "origin code"},
				Field{"origin_name", TypeString, "origin name"},
				Field{"origin_level", TypeString, "municipality, province, region or country"},
				Field{"destination", TypeString, "zone name, or \"town\" for presence outside every zone"},
				fCount, fVisitors,
				Field{"rank", TypeNumber, "1 for the strongest flow of the view"}),
		},
	},
	{
		Name: LayerZones, Title: "Zones",
		Description: "The town's zones (historic centre, squares, streets, parking) with the people in them.",
		MinZoom:     10, MaxZoom: 20, PromoteID: "code",
		Vector: []VectorLayer{
			vectorLayer(LayerZones, "Town zones with counts in the filtered window; the feature id is the zone index.",
				10, 20,
				Field{"code", TypeString, "zone code (the value of the zone filter)"},
				Field{"name", TypeString, "zone name"},
				Field{"zone", TypeString, "zone index"},
				fCount, fVisitors, fSuppressed),
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
