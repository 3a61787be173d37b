// Decodes Mapbox Vector Tiles with @mapbox/vector-tile, the decoder MapLibre
// GL JS uses, and prints them as JSON: the Go tests compare this independent
// reading with what the tile engine meant to write.
//
//   node static/test/decode-mvt.mjs FILE.mvt...  →  {"FILE.mvt": {layer: {...}}}
import { readFileSync } from 'node:fs';
import { VectorTile } from '@mapbox/vector-tile';
import * as pbf from 'pbf';

// pbf 5 exports PbfReader; older versions a default class.
const Pbf = pbf.PbfReader ?? pbf.default;

const out = {};
for (const file of process.argv.slice(2)) {
  const tile = new VectorTile(new Pbf(readFileSync(file)));
  const layers = {};
  for (const [name, layer] of Object.entries(tile.layers)) {
    const features = [];
    for (let i = 0; i < layer.length; i++) {
      const f = layer.feature(i);
      features.push({
        id: f.id ?? null,
        type: ['Unknown', 'Point', 'LineString', 'Polygon'][f.type],
        properties: f.properties,
        geometry: f.loadGeometry().map((ring) => ring.map((p) => [p.x, p.y])),
      });
    }
    layers[name] = { version: layer.version, extent: layer.extent, features };
  }
  out[file] = layers;
}
process.stdout.write(JSON.stringify(out));
