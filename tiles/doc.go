// Package tiles is the tile engine of flowtiles: it turns aggregates of
// presence records into Mapbox Vector Tiles (MVT 2.1) and publishes every
// figure through the disclosure rules. It knows no HTTP and no SQL.
//
// The pieces, one concept per file:
//   - world.go, tile.go: Web Mercator world coordinates (2^32 units across)
//     and XYZ tile ids;
//   - grid.go: the global bin lattices (hexagons and squares) per zoom;
//   - filter.go, attrs.go, country.go, clock.go: the filters of a request,
//     parsed once and shared by tiles and stats, and the record attributes;
//   - source.go: the Source interface that stores implement (the in-memory
//     store and PostGIS), and the groups and measures they return;
//   - privacy.go, figure.go: every disclosure decision (threshold,
//     complementary and margin suppression, the cell key perturbation) and
//     the published figure;
//   - place.go, gazetteer.go: reference areas (municipalities, provinces,
//     regions, countries, zones) cut to tiles;
//   - engine.go, layers.go: the layers (density, origins, flows, zones) and
//     their tiles.
//
// An Engine renders a tile from any Source; see the example.
package tiles
