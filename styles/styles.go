// Package styles holds the MapLibre style documents that flowtiles serves
// at /styles/{name}.json: planner.json for the explorer and kiosk.json for
// the public kiosk.
//
// The documents are templates: the server replaces {{BASE}} with the
// absolute base URL of the request (scheme, host and any proxy prefix), so
// their sources point at this server's TileJSON (/tiles/{layer}.json).
// They draw the data on a plain background. basemap.json is the style of
// the reference context (regions, provinces, municipalities with names),
// which the server serves at /styles/basemap.json when it is given no
// basemap (serve --basemap FILE gets the archive's style instead, and
// --basemap-url a redirect); the pages draw their data on top of it. When
// the server is given --basemap-url, it also names that style in the
// documents' metadata as "flowtiles:basemap". classes.json holds the colour
// classes (see classes.go); assets.go the glyphs and Protomaps layers.
package styles

import "embed"

// FS holds the style documents, one NAME.json per style.
//
//go:embed *.json
var FS embed.FS

// Placeholder is replaced by the absolute base URL of the request.
const Placeholder = "{{BASE}}"
