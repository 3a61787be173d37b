package server

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// cachedTile is a rendered tile as the cache keeps it. It is immutable once
// stored (handlers share it), but for br, which the first client asking
// for brotli fills.
type cachedTile struct {
	gz   []byte // gzipped MVT; nil for an empty tile
	etag string // without the representation suffix
	size int    // uncompressed length
	br   atomic.Pointer[[]byte]
}

// plain returns the uncompressed tile.
func (t *cachedTile) plain() ([]byte, error) {
	if t.size > 0 {
		return gunzipBytes(t.gz, t.size)
	}
	return gunzipAll(t.gz)
}

// brotli returns the tile brotli-compressed, made once.
func (t *cachedTile) brotli() ([]byte, error) {
	if p := t.br.Load(); p != nil {
		return *p, nil
	}
	b, err := t.plain()
	if err != nil {
		return nil, err
	}
	br := brotliBytes(b)
	t.br.Store(&br)
	return br, nil
}

// tileCache is an LRU of rendered tiles bounded in bytes. Its keys carry
// the data version, so a new version simply misses and the old entries age
// out. Safe for concurrent use.
type tileCache struct {
	max int64
	m   *metrics // the tile cache's figures; nil: none (another cache)

	mu    sync.Mutex
	bytes int64
	ll    *list.List // front: most recently used
	items map[string]*list.Element
}

type cacheEntry struct {
	key  string
	tile *cachedTile
}

// entryOverhead approximates the bookkeeping of one entry.
const entryOverhead = 160

func newTileCache(max int64, m *metrics) *tileCache {
	return &tileCache{max: max, m: m, ll: list.New(), items: map[string]*list.Element{}}
}

func (e *cacheEntry) cost() int64 {
	return int64(len(e.key) + len(e.tile.gz) + len(e.tile.etag) + entryOverhead)
}

func (c *tileCache) get(key string) (*cachedTile, bool) {
	var el *list.Element
	ok := false
	if c.max > 0 {
		c.mu.Lock()
		if el, ok = c.items[key]; ok {
			c.ll.MoveToFront(el)
		}
		c.mu.Unlock()
	}
	if c.m != nil {
		if ok {
			c.m.cacheHits.Inc()
		} else {
			c.m.cacheMiss.Inc()
		}
	}
	if !ok {
		return nil, false
	}
	return el.Value.(*cacheEntry).tile, true
}

func (c *tileCache) put(key string, t *cachedTile) {
	ent := &cacheEntry{key: key, tile: t}
	if c.max <= 0 || ent.cost() > c.max/4 {
		return // one tile may not push out a quarter of the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.bytes -= el.Value.(*cacheEntry).cost()
		el.Value = ent
		c.ll.MoveToFront(el)
	} else {
		c.items[key] = c.ll.PushFront(ent)
	}
	c.bytes += ent.cost()
	for c.bytes > c.max {
		el := c.ll.Back()
		old := el.Value.(*cacheEntry)
		c.ll.Remove(el)
		delete(c.items, old.key)
		c.bytes -= old.cost()
	}
	if c.m != nil {
		c.m.cacheBytes.Set(float64(c.bytes))
		c.m.cacheTiles.Set(float64(c.ll.Len()))
	}
}
