// The planner's whole state lives in the query string, so a view can be
// shared as a link and the browser's back and forward buttons walk through
// it. parseState and stateQuery are inverse: stateQuery(parseState(q))
// gives q back in canonical order.

// Filter parameters, the same on tiles and stats (tiles.FilterParams).
export const FILTERS = ['from', 'to', 'hours', 'days', 'age', 'gender', 'nationality', 'origin', 'spend', 'zone'];
export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
export const AGES = ['0-17', '18-24', '25-34', '35-44', '45-54', '55-64', '65+'];
export const GENDERS = ['f', 'm', 'x'];
export const SPENDS = ['low', 'medium', 'high'];
export const LAYERS = ['density', 'origins', 'flows', 'zones'];
const LIST_FILTERS = { days: DAYS, age: AGES, gender: GENDERS, spend: SPENDS };

export const DEFAULTS = {
  lang: 'it',
  layers: ['density', 'zones'],
  z: 15.5,
  lat: null, // null: the centre of the data (from the server's style)
  lon: null,
};

// parseState reads a query string (location.search) into a state object:
// {filters: {name: string}, compare: {from, to} | null, layers: [], lang,
// z, lat, lon, sel: string}.
export function parseState(search) {
  const q = new URLSearchParams(search);
  const filters = {};
  for (const name of FILTERS) {
    const all = q.getAll(name).join(',').trim();
    if (!all) continue;
    const allowed = LIST_FILTERS[name];
    if (allowed) {
      const set = new Set(all.split(',').map((s) => s.trim().toLowerCase()));
      const v = allowed.filter((a) => set.has(a)).join(',');
      if (v) filters[name] = v;
    } else {
      filters[name] = all;
    }
  }
  let compare = null;
  if (q.get('compare_from') && q.get('compare_to')) {
    compare = { from: q.get('compare_from'), to: q.get('compare_to') };
  }
  let layers = DEFAULTS.layers.slice();
  if (q.has('layers')) {
    const set = new Set(q.get('layers').split(','));
    layers = LAYERS.filter((l) => set.has(l));
  }
  const num = (k) => {
    const v = q.get(k);
    if (v === null || v === '') return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  };
  const z = num('z');
  return {
    filters,
    compare,
    layers,
    lang: q.get('lang') === 'en' ? 'en' : 'it',
    z: z === null ? DEFAULTS.z : Math.min(20, Math.max(0, z)),
    lat: num('lat'),
    lon: num('lon'),
    sel: q.get('sel') || '',
  };
}

// stateQuery writes a state as a query string (without '?'), leaving out
// defaults.
export function stateQuery(s) {
  const q = new URLSearchParams();
  for (const name of FILTERS) if (s.filters[name]) q.set(name, s.filters[name]);
  if (s.compare) {
    q.set('compare_from', s.compare.from);
    q.set('compare_to', s.compare.to);
  }
  if (s.layers.join(',') !== DEFAULTS.layers.join(',')) q.set('layers', s.layers.join(','));
  if (s.lang !== DEFAULTS.lang) q.set('lang', s.lang);
  if (s.z !== null && s.z !== DEFAULTS.z) q.set('z', String(round(s.z, 2)));
  if (s.lat !== null) q.set('lat', String(round(s.lat, 5)));
  if (s.lon !== null) q.set('lon', String(round(s.lon, 5)));
  if (s.sel) q.set('sel', s.sel);
  return q.toString().replaceAll('%2C', ',');
}

// filterQuery is the tile and stats query of a set of filters, with the
// period replaced when given (the comparison period's tiles).
export function filterQuery(filters, period) {
  const q = new URLSearchParams();
  for (const name of FILTERS) {
    let v = filters[name];
    if (period && (name === 'from' || name === 'to')) v = period[name];
    if (v) q.set(name, v);
  }
  return q.toString().replaceAll('%2C', ',');
}

function round(n, d) {
  const f = 10 ** d;
  return Math.round(n * f) / f;
}

// validHours reports whether an hours filter is well formed (8-12,18).
export function validHours(v) {
  if (!v) return true;
  return v.split(',').every((p) => {
    const m = /^\s*(\d{1,2})(?:\s*-\s*(\d{1,2}))?\s*$/.exec(p);
    return m && +m[1] < 24 && (m[2] === undefined || +m[2] < 24);
  });
}

// periodDays returns the length of a period in days, or null when open.
export function periodDays(from, to) {
  if (!from || !to) return null;
  const a = parseDate(from, false);
  const b = parseDate(to, true);
  if (!a || !b || b <= a) return null;
  return (b - a) / 86400000;
}

// parseDate reads a date (a "to" date includes its whole day) or an RFC 3339
// timestamp.
function parseDate(s, end) {
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
    const d = new Date(s + 'T00:00:00Z');
    if (end) d.setUTCDate(d.getUTCDate() + 1);
    return d;
  }
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}
