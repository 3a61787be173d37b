// Validates MapLibre style documents with @maplibre/maplibre-gl-style-spec
// (installed in static/node_modules):
//
//   node styles/validate.mjs FILE.json...
//
// The {{BASE}} placeholder is replaced by http://localhost:8080 first.
// Prints one line per error and exits 1 when any style is invalid.
import { readFileSync } from "node:fs";

const spec = await import(new URL("../static/node_modules/@maplibre/maplibre-gl-style-spec/dist/index.mjs", import.meta.url));

let failed = false;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8").replaceAll("{{BASE}}", "http://localhost:8080");
  let style;
  try {
    style = JSON.parse(text);
  } catch (e) {
    console.log(`${file}: ${e.message}`);
    failed = true;
    continue;
  }
  const errors = spec.validateStyleMin(style);
  for (const e of errors) {
    console.log(`${file}: ${e.message}`);
  }
  if (errors.length > 0) failed = true;
}
process.exit(failed ? 1 : 0);
