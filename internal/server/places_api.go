package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// PlacesAPI lets the pages speak of places by name:
//
//   - GET /api/places?q=perugia finds the origins (municipalities,
//     provinces, regions) whose name matches, for the origin filter;
//   - GET /api/places?code=054039,054,10 names codes (the URL holds codes,
//     the form shows names);
//   - GET /api/zones?lang=en lists the town's zones with their names in a
//     language (the zones file's "label:en"; the town's name otherwise).
//
// Countries are named by the browser (Intl.DisplayNames) in the page's
// language. Nothing here is about people: no privacy rule applies.
type PlacesAPI struct {
	Catalog *refdata.Catalog
	Places  *tiles.Gazetteer // regions and provinces, with their names
	Zones   []tiles.Place    // the town's (a request's site's Zones when it has them: SiteOf)

	once  sync.Once
	index []placeEntry
}

// Place is one answer of /api/places.
type Place struct {
	Code   string `json:"code"`   // the value of the origin filter
	Name   string `json:"name"`   // the place's name
	Level  string `json:"level"`  // municipality, province or region
	Within string `json:"within"` // where it is: "Perugia, Umbria"
}

type placeEntry struct {
	Place
	key        string // folded name
	population int64
	rank       int // of places with the same name: the municipality (where people live), then the province, then the region
}

// Register adds the routes.
func (a *PlacesAPI) Register(e *echo.Echo) {
	e.GET("/api/places", a.places)
	e.GET("/api/zones", a.zones)
}

const (
	maxPlaceQuery = 100
	maxPlaceCodes = 50
)

func (a *PlacesAPI) build() {
	a.once.Do(func() {
		regions := map[string]string{}
		provinces := map[string]string{}
		if a.Places != nil {
			for _, p := range a.Places.Places(tiles.LevelRegion) {
				regions[p.Code] = p.Name
				a.index = append(a.index, placeEntry{Place: Place{Code: p.Code, Name: p.Name, Level: "region"}, key: fold(p.Name), population: p.Population, rank: 2})
			}
		}
		for _, m := range a.Catalog.Municipalities {
			if _, ok := provinces[m.ProvinceCode]; !ok {
				name, _, ok := a.Catalog.ProvinceName(m.ProvinceCode)
				if !ok {
					name = m.Province
				}
				provinces[m.ProvinceCode] = name
				region := regions[m.RegionCode]
				if region == "" {
					region = m.Region
				}
				a.index = append(a.index, placeEntry{Place: Place{Code: m.ProvinceCode, Name: name, Level: "province", Within: region}, key: fold(name), rank: 1})
			}
		}
		for _, m := range a.Catalog.Municipalities {
			region := regions[m.RegionCode]
			if region == "" {
				region = m.Region
			}
			a.index = append(a.index, placeEntry{
				Place:      Place{Code: m.Code, Name: m.Name, Level: "municipality", Within: provinces[m.ProvinceCode] + ", " + region},
				key:        fold(m.Name),
				population: m.Population, rank: 0,
			})
		}
	})
}

// places serves /api/places?q=NAME or ?code=CODE,...
func (a *PlacesAPI) places(c echo.Context) error {
	a.build()
	q := strings.TrimSpace(c.QueryParam("q"))
	codes := c.QueryParam("code")
	limit := 10
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 50 {
			return &tiles.FilterError{Param: "limit", Value: l, Reason: "want a number from 1 to 50"}
		}
		limit = n
	}
	out := []Place{}
	switch {
	case codes != "":
		list := strings.Split(codes, ",")
		if len(list) > maxPlaceCodes {
			return &tiles.FilterError{Param: "code", Value: codes, Reason: "at most 50 codes"}
		}
		for _, code := range list {
			if p, ok := a.byCode(strings.TrimSpace(code)); ok {
				out = append(out, p)
			}
		}
	case q != "":
		if len([]rune(q)) > maxPlaceQuery {
			return &tiles.FilterError{Param: "q", Value: q[:maxPlaceQuery], Reason: "at most 100 characters"}
		}
		out = a.search(q, limit)
	default:
		return &tiles.FilterError{Param: "q", Reason: "give q=NAME or code=CODE"}
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
	return c.JSON(http.StatusOK, map[string]any{"places": out})
}

// byCode names a municipality (6 digits), a province (3 digits or its
// abbreviation) or a region (2 digits).
func (a *PlacesAPI) byCode(code string) (Place, bool) {
	level := map[int]string{6: "municipality", 3: "province", 2: "region"}[len(code)]
	if len(code) == 2 && code[0] >= 'A' && code[0] <= 'Z' {
		if _, c, ok := a.Catalog.ProvinceName(code); ok {
			code, level = c, "province"
		}
	}
	for _, e := range a.index {
		if e.Code == code && e.Level == level {
			return e.Place, true
		}
	}
	return Place{}, false
}

// search ranks the places matching q: whole name, then name start, then a
// word start, then anywhere; of equal names the municipality ("Perugia" is
// the city; its province is the next answer), then bigger places first.
func (a *PlacesAPI) search(q string, limit int) []Place {
	k := fold(q)
	if k == "" {
		return []Place{}
	}
	type hit struct {
		e     *placeEntry
		score int
	}
	var hits []hit
	for i := range a.index {
		e := &a.index[i]
		score := -1
		switch {
		case e.key == k || e.Code == q:
			score = 0
		case strings.HasPrefix(e.key, k):
			score = 1
		case strings.Contains(e.key, " "+k) || strings.Contains(e.key, "'"+k) || strings.Contains(e.key, "-"+k):
			score = 2
		case len(k) >= 3 && strings.Contains(e.key, k):
			score = 3
		}
		if score >= 0 {
			hits = append(hits, hit{e, score})
		}
	}
	slices.SortFunc(hits, func(x, y hit) int {
		if x.score != y.score {
			return x.score - y.score
		}
		if x.e.rank != y.e.rank {
			return x.e.rank - y.e.rank
		}
		if x.e.population != y.e.population {
			if x.e.population > y.e.population {
				return -1
			}
			return 1
		}
		return strings.Compare(x.e.Code, y.e.Code)
	})
	out := []Place{}
	for i := 0; i < len(hits) && i < limit; i++ {
		out = append(out, hits[i].e.Place)
	}
	return out
}

// zones serves /api/zones?lang=LANG.
func (a *PlacesAPI) zones(c echo.Context) error {
	lang := c.QueryParam("lang")
	type zone struct {
		Code  string     `json:"code"`
		Name  string     `json:"name"`
		Point [2]float64 `json:"point"` // a point inside, for its label
		BBox  [4]float64 `json:"bbox"`  // west, south, east, north
	}
	out := []zone{}
	zones := a.Zones
	if st := SiteOf(c); st != nil && st.Zones != nil {
		zones = st.Zones
	}
	for _, z := range zones {
		name := z.Name
		if n, ok := z.Names[lang]; ok && n != "" {
			name = n
		}
		b := z.Shape.Bound()
		out = append(out, zone{Code: z.Code, Name: name, Point: [2]float64{z.Point[0], z.Point[1]}, BBox: [4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}})
	}
	c.Response().Header().Set(echo.HeaderCacheControl, cacheMetadata)
	return c.JSON(http.StatusOK, map[string]any{"zones": out})
}

// fold lowers a name and drops its accents: "Forlì" and "forli" match.
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}
