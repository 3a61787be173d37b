// The town's zones (code and name), read once from the first event of
// /api/live: the zones tile layer carries names and indexes, while stats
// and the zone filter take codes.
export function loadZones(timeoutMs = 8000) {
  return new Promise((resolve) => {
    const es = new EventSource('/api/live');
    const done = (zones) => {
      clearTimeout(timer);
      es.close();
      resolve(zones);
    };
    const timer = setTimeout(() => done([]), timeoutMs);
    es.addEventListener('live', (ev) => {
      try {
        const d = JSON.parse(ev.data);
        done((d.zones ?? []).map((z) => ({ code: z.zone, name: z.name })));
      } catch {
        done([]);
      }
    });
  });
}
