// Keeps a map's tiles for a page that runs unattended. The pages ask
// MapLibre never to refetch tiles by their Cache-Control (refreshExpiredTiles
// off: tiles of a data version do not change; the pages refetch when the live
// feed announces new data), so an outage blanks nothing that was drawn.
// Tiles that failed (the server was away when the view changed) are fetched
// again as soon as the live feed is back, and after an outage every source
// is reloaded (the server may hold other data now).
//
// MapLibre leaves a failed tile "errored" and a plain reload of its source
// does not fetch it again (it waits for a request that was never made): a
// failed tile is refreshed by its id (map.refreshTiles(source, ids)), which
// asks for it anew. Holds the ids of the failed tiles and one timer.
export class MapKeeper {
  constructor(map, { sources, onError } = {}) {
    this.map = map;
    this.sources = sources; // () => ids of the sources in use
    this.failed = new Map(); // source id → Map(z/x/y → {z, x, y})
    this.timer = 0;
    this.down = false;
    map.on('error', (e) => {
      onError?.(e);
      // A tile the server refuses (4xx) is not fetched again by itself.
      const st = e.error?.status;
      if (!e.sourceId || (st >= 400 && st < 500 && st !== 408 && st !== 429)) return;
      const c = e.tile?.tileID?.canonical;
      if (c) {
        if (!this.failed.has(e.sourceId)) this.failed.set(e.sourceId, new Map());
        this.failed.get(e.sourceId).set(`${c.z}/${c.x}/${c.y}`, { z: c.z, x: c.x, y: c.y });
      }
      // While the server answers, retry a failed tile after a while.
      if (!this.down && !this.timer) this.timer = setTimeout(() => this.retry(), 5000);
    });
  }

  // state follows the live feed: 'down' while the server is away, 'up' when
  // events arrive again.
  state(s) {
    if (s === 'down') {
      this.down = true;
      return;
    }
    if (s === 'up' && this.down) {
      this.down = false;
      this.refresh(this.sources(), true);
    }
  }

  retry() {
    this.timer = 0;
    if (this.down || this.failed.size === 0) return;
    this.refresh([...this.failed.keys()], false);
  }

  // refresh asks again for the failed tiles of the sources and, with all,
  // reloads their other tiles too.
  refresh(ids, all) {
    for (const id of ids) {
      if (!this.map.getSource(id)) continue;
      const bad = this.failed.get(id);
      if (bad?.size) this.map.refreshTiles(id, [...bad.values()]);
      if (all) this.map.refreshTiles(id);
    }
    for (const id of ids) this.failed.delete(id);
  }
}
