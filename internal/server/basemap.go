package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowtiles/flowtiles/internal/basemap"
	"github.com/flowtiles/flowtiles/styles"
	"github.com/flowtiles/flowtiles/tiles"
)

// The basemap under the data, at three levels:
//
//  1. --basemap-url: any MapLibre style elsewhere; /styles/basemap.json
//     redirects to it and the pages draw their data on top;
//  2. --basemap FILE: a local PMTiles or MBTiles archive served as the
//     basemap layer at /tiles/basemap/{z}/{x}/{y}.mvt, with the style that
//     matches its schema at /styles/basemap.json;
//  3. neither: the reference context flowtiles owns (regions, provinces and
//     municipalities with their names) as the basemap layer, with its style.
//
// Labels need glyphs: /fonts/{fontstack}/{range}.pbf serves the SDF glyph
// ranges embedded in the binary (styles.Glyphs). Nothing comes from a
// third-party host unless --basemap-url says so.

// cacheBasemap: an archive or the reference areas do not change while the
// server runs.
const cacheBasemap = "public, max-age=86400"

const layerBasemap = "basemap"

func (s *Server) basemapRoutes(e *echo.Echo) {
	e.GET("/tiles/basemap.json", s.basemapTileJSON)
	e.GET("/tiles/basemap/metadata.json", s.basemapTileJSON)
	e.GET("/tiles/basemap/:z/:x/:file", s.basemapTile)
	e.GET("/styles/basemap.json", s.basemapStyle)
	e.GET("/fonts/:fontstack/:file", s.glyphs)
	e.GET("/styles/classes.json", s.classesDoc)
}

// basemapTileJSON serves the TileJSON of the basemap layer.
func (s *Server) basemapTileJSON(c echo.Context) error {
	c.Set(keyLayer, layerBasemap)
	base := s.baseURL(c)
	doc := map[string]any{
		"tilejson": "3.0.0", "scheme": "xyz", "version": "1.0.0",
		"tiles": []string{base + "/tiles/basemap/{z}/{x}/{y}.mvt"},
	}
	if a := s.cfg.Basemap; a != nil {
		m := a.Metadata()
		doc["name"] = firstNonEmpty(m.Name, "flowtiles basemap")
		doc["description"] = m.Description
		doc["attribution"] = m.Attribution
		doc["minzoom"], doc["maxzoom"] = m.MinZoom, m.MaxZoom
		doc["bounds"], doc["center"] = m.Bounds, m.Center
		doc["vector_layers"] = m.VectorLayers
	} else {
		spec := tiles.ContextSpec
		doc["name"] = "flowtiles " + spec.Title
		doc["description"] = spec.Description
		doc["attribution"] = Attribution
		if c.QueryParam("lang") == "it" {
			doc["attribution"] = AttributionIT
		}
		doc["minzoom"], doc["maxzoom"] = spec.MinZoom, spec.MaxZoom
		doc["bounds"] = worldBounds
		doc["vector_layers"] = spec.Vector
		if b, ok := s.site(c).bounds(); ok {
			ctr := b.Center()
			doc["center"] = [3]float64{ctr[0], ctr[1], 12}
		}
	}
	if vl, err := json.Marshal(map[string]any{"vector_layers": doc["vector_layers"]}); err == nil {
		doc["json"] = string(vl)
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, doc, cacheMetadata)
}

// basemapTile serves a basemap tile: from the archive, or the reference
// context rendered (and cached) here.
func (s *Server) basemapTile(c echo.Context) error {
	ys, ext := splitExt(c.Param("file"))
	if ext != ".mvt" && ext != ".pbf" {
		return echo.ErrNotFound
	}
	c.Set(keyLayer, layerBasemap)
	tid, err := tiles.ParseTile(c.Param("z"), c.Param("x"), ys)
	if err != nil {
		return err
	}
	c.Set(keyZoom, strconv.Itoa(int(tid.Z)))
	if a := s.cfg.Basemap; a != nil {
		b, gz, err := a.Tile(c.Request().Context(), tid.Z, tid.X, tid.Y)
		if errors.Is(err, basemap.ErrNoTile) {
			c.Response().Header().Set(echo.HeaderCacheControl, cacheBasemap)
			return c.NoContent(http.StatusNoContent)
		}
		if err != nil {
			return err
		}
		t := &cachedTile{gz: b} // size unknown: writeCached decompresses for clients without gzip
		if !gz {
			t.gz, t.size = gzipBytes(b), len(b)
		}
		sum := sha256.Sum256(t.gz)
		t.etag = "bm-" + hex.EncodeToString(sum[:12])
		return writeCached(c, t, cacheBasemap, ContentTypeMVT)
	}
	// the reference context, with the town's zones
	st := s.site(c)
	if st.Engine == nil || tid.Z > uint8(tiles.ContextSpec.MaxZoom) {
		c.Response().Header().Set(echo.HeaderCacheControl, cacheBasemap)
		return c.NoContent(http.StatusNoContent)
	}
	key := st.Town.Code + ":basemap/" + tid.String()
	t, hit := s.cache.get(key)
	if hit {
		c.Set(keyCache, "hit")
	} else {
		c.Set(keyCache, "miss")
		b, err := st.Engine.Places().ContextTile(tid)
		if err != nil {
			return err
		}
		t = &cachedTile{}
		if len(b) > 0 {
			sum := sha256.Sum256(b)
			t = &cachedTile{gz: gzipBytes(b), etag: "ctx-" + hex.EncodeToString(sum[:12]), size: len(b)}
		}
		s.cache.put(key, t)
	}
	return writeCached(c, t, cacheBasemap, ContentTypeMVT)
}

func gunzipAll(gz []byte) ([]byte, error) {
	var out bytes.Buffer
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	if _, err := out.ReadFrom(zr); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// basemapStyle serves /styles/basemap.json: a redirect to --basemap-url,
// the style of the --basemap archive, or the reference context's style.
// lang=en gives English labels where the tiles have them.
func (s *Server) basemapStyle(c echo.Context) error {
	lang := c.QueryParam("lang")
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cacheMetadata)
	s.varyForwarded(c)
	base := s.baseURL(c)
	if a := s.cfg.Basemap; a != nil {
		doc, err := basemap.Style(a.Metadata(), base, lang)
		if err != nil {
			return err
		}
		return writeJSONDoc(c, doc, cacheMetadata)
	}
	if s.cfg.BasemapURL != "" {
		return c.Redirect(http.StatusFound, s.cfg.BasemapURL)
	}
	raw, err := fs.ReadFile(styles.FS, "basemap.json")
	if err != nil {
		return err
	}
	b, _ := json.Marshal(base)
	raw = []byte(strings.ReplaceAll(string(raw), styles.Placeholder, strings.Trim(string(b), `"`)))
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if lang == "it" || lang == "en" {
		// the credits in the page's language
		if src, ok := doc["sources"].(map[string]any)["basemap"].(map[string]any); ok {
			src["url"] = fmt.Sprint(src["url"]) + "?lang=" + lang
		}
	}
	if bd, ok := s.site(c).bounds(); ok {
		ctr := bd.Center()
		doc["center"] = []float64{ctr[0], ctr[1]}
	}
	return writeJSONDoc(c, doc, cacheMetadata)
}

var glyphRange = regexp.MustCompile(`^(\d{1,5})-(\d{1,5})\.pbf$`)

// glyphs serves an SDF glyph range of the embedded fonts; a range or font
// that is not embedded is an empty range (no characters, no error).
func (s *Server) glyphs(c echo.Context) error {
	m := glyphRange.FindStringSubmatch(c.Param("file"))
	if m == nil {
		return echo.ErrNotFound
	}
	start, _ := strconv.Atoi(m[1])
	end, _ := strconv.Atoi(m[2])
	if start%256 != 0 || end != start+255 || end > 65535 {
		return echo.ErrNotFound
	}
	rng := m[1] + "-" + m[2]
	b, font, ok := styles.Glyphs(c.Param("fontstack"), rng)
	if !ok {
		b = emptyGlyphs(font, rng)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, cacheBasemap)
	return c.Blob(http.StatusOK, "application/x-protobuf", b)
}

// emptyGlyphs is a glyph range with no glyphs: glyphs { stacks = 1 {
// name = 1; range = 2 } }.
func emptyGlyphs(font, rng string) []byte {
	var stack []byte
	stack = protowire.AppendTag(stack, 1, protowire.BytesType)
	stack = protowire.AppendString(stack, font)
	stack = protowire.AppendTag(stack, 2, protowire.BytesType)
	stack = protowire.AppendString(stack, rng)
	var out []byte
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	return protowire.AppendBytes(out, stack)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
