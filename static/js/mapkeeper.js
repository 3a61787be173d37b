// Keeps a map's tiles for a page that runs unattended. The pages ask
// MapLibre never to refetch tiles by their Cache-Control (refreshExpiredTiles
// off: tiles of a data version do not change; the pages refetch when the live
// feed announces new data), so an outage blanks nothing that was drawn.
// Tiles that failed (the server was away when the view changed) are fetched
// again as soon as the live feed is back, and after a restart every source
// is reloaded (the server may hold other data now). Holds a set of source
// ids and one timer.
export class MapKeeper {
  constructor(map, { sources, onError } = {}) {
    this.map = map;
    this.sources = sources; // () => ids of the sources in use
    this.failed = new Set();
    this.timer = 0;
    this.down = false;
    map.on('error', (e) => {
      onError?.(e);
      // A tile the server refuses (4xx) is not fetched again by itself.
      const st = e.error?.status;
      if (!e.sourceId || (st >= 400 && st < 500 && st !== 408 && st !== 429)) return;
      this.failed.add(e.sourceId);
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
      this.refresh(this.sources());
    }
  }

  retry() {
    this.timer = 0;
    if (this.down || this.failed.size === 0) return;
    this.refresh([...this.failed]);
  }

  refresh(ids) {
    this.failed.clear();
    for (const id of ids) {
      if (this.map.getSource(id)) this.map.refreshTiles(id);
    }
  }
}
