// The base path of the page's requests. A town's pages live under
// /t/{town}/ (behind a proxy, under its prefix too) and ask for every
// document under the same prefix: the server answers for that town, and a
// reverse proxy in front of several server groups routes a town's requests
// by the prefix alone. Elsewhere the base is "/".
const path = typeof location === 'undefined' ? '/' : location.pathname;
const m = path.match(/^(.*\/t\/[a-z][a-z0-9-]*\/)/);

export const BASE = m ? m[1] : '/';

// at returns path ("/api/zones?...") under the base.
export function at(p) {
  return BASE + p.replace(/^\//, '');
}
