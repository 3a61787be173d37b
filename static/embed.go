// Package static holds the front end served by flowtiles: the planner
// explorer (index.html, at /), the town-centre kiosk (kiosk.html, at /kiosk),
// the town picker (towns.html, at / of a server of several towns),
// their scripts and styles, and MapLibre GL JS vendored from the npm package
// pinned in package.json (scripts/vendor.mjs), so the binary needs no npm
// and no CDN. The server serves everything but the pages under /static/.
package static

import "embed"

// FS is the embedded front end. Read-only; shared by every request.
//
//go:embed index.html kiosk.html towns.html js css vendor
var FS embed.FS
