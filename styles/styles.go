// Package styles holds the MapLibre style documents that flowtiles serves
// at /styles/{name}.json: planner.json for the explorer and kiosk.json for
// the public kiosk.
//
// The documents are templates: the server replaces {{BASE}} with the
// absolute base URL of the request (scheme, host and any proxy prefix), so
// their sources point at this server's TileJSON (/tiles/{layer}.json).
// They need no external basemap: a plain background sits under the data.
// When the server is given a basemap (serve --basemap-url), it names that
// style in the document's metadata as "flowtiles:basemap"; a client that
// wants it loads that style first and adds these sources and layers on top.
package styles

import "embed"

// FS holds the style documents, one NAME.json per style.
//
//go:embed *.json
var FS embed.FS

// Placeholder is replaced by the absolute base URL of the request.
const Placeholder = "{{BASE}}"
