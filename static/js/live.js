// LiveFeed follows /api/live for a page that runs unattended for weeks.
// EventSource reconnects by itself after a dropped connection (the server
// sends retry: 3000), but not after an HTTP error (a proxy's 502 while the
// server restarts), and it cannot tell a stalled stream from a quiet one: a
// watchdog reopens the stream when no event came for staleMs, with backoff.
// Holds one EventSource and two timers; nothing grows with time.
export class LiveFeed {
  constructor(url, { onLive, onTiles, onState, staleMs = 20000 }) {
    this.url = url;
    this.onLive = onLive;
    this.onTiles = onTiles;
    this.onState = onState ?? (() => {});
    this.staleMs = staleMs;
    this.es = null;
    this.last = 0; // time of the last event (ms)
    this.backoff = 1000;
    this.retryTimer = 0;
    this.dogTimer = 0;
    this.reconnects = 0;
  }

  start() {
    this.connect();
    this.dogTimer = setInterval(() => this.watchdog(), 1000);
  }

  stop() {
    clearInterval(this.dogTimer);
    clearTimeout(this.retryTimer);
    this.es?.close();
    this.es = null;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.es?.close();
    this.last = Date.now(); // give the new stream staleMs to speak
    const es = new EventSource(this.url);
    this.es = es;
    es.addEventListener('live', (ev) => {
      if (es !== this.es) return;
      this.alive();
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onLive(data);
    });
    es.addEventListener('tiles', (ev) => {
      if (es !== this.es) return;
      this.alive();
      try {
        this.onTiles(JSON.parse(ev.data));
      } catch { /* a broken event: the next live event carries the version too */ }
    });
    es.onerror = () => {
      if (es !== this.es) return;
      this.onState('down');
      if (es.readyState === EventSource.CLOSED) this.retry();
    };
  }

  alive() {
    this.last = Date.now();
    this.backoff = 1000;
    this.onState('up');
  }

  retry() {
    clearTimeout(this.retryTimer);
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 30000);
    this.reconnects++;
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  watchdog() {
    if (Date.now() - this.last > this.staleMs) {
      this.onState('down');
      this.es?.close();
      this.es = null;
      this.last = Date.now() + this.backoff; // wait for the retry below
      this.retry();
    }
  }
}
