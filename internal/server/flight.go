package server

// Shared renders: one engine call per tile however many clients ask at
// once, within the tile deadline.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/flowtiles/flowtiles/tiles"
)

// flight is one rendering that concurrent requests for the same tile wait
// for: when a new data version lands, every kiosk and browser asks for the
// same tiles at once, and the source should see each query once.
type flight struct {
	done chan struct{}
	tile *cachedTile
	err  error
}

// renderShared renders the tile of key once for all concurrent requests and
// caches it. Only the leader, which renders, waits for a slot of the heavy
// pool (as client); the others wait for its tile. When the leader's client
// went away or its render ran out of time, the waiters, which have time of
// their own, share a render anew.
func (s *Server) renderShared(ctx context.Context, st *Site, client, key string, r tiles.Request, version uint64) (*cachedTile, error) {
	s.flightMu.Lock()
	if f, ok := s.flights[key]; ok {
		s.flightMu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			return s.renderShared(ctx, st, client, key, r, version)
		}
		return f.tile, f.err
	}
	f := &flight{done: make(chan struct{})}
	s.flights[key] = f
	s.flightMu.Unlock()
	defer func() {
		s.flightMu.Lock()
		delete(s.flights, key)
		s.flightMu.Unlock()
		close(f.done)
	}()
	f.tile, f.err = s.render(ctx, st, client, r, version)
	if f.err == nil {
		s.cache.put(key, f.tile)
	}
	return f.tile, f.err
}

// render asks the engine for a tile within TileTimeout and prepares it for
// the cache: gzipped, with its ETag. A tile cut from the aggregates the
// engine keeps, or is computing for another request (tiles.KeptOnly), is
// light work and needs no slot: after the few aggregates of a filter, every
// tile of a view is such a cut, and used to queue for a slot behind other
// filters' scans. A tile that needs a new aggregate waits for a slot of
// the heavy pool first.
func (s *Server) render(ctx context.Context, st *Site, client string, r tiles.Request, version uint64) (*cachedTile, error) {
	b, err := s.renderTile(tiles.KeptOnly(ctx), st, r)
	if errors.Is(err, tiles.ErrNotKept) {
		release, aerr := s.cfg.Heavy.Acquire(ctx, client)
		if aerr != nil {
			return nil, aerr
		}
		defer release()
		b, err = s.renderTile(ctx, st, r)
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return &cachedTile{etag: "empty-v" + strconv.FormatUint(version, 10)}, nil
	}
	sum := sha256.Sum256(b)
	return &cachedTile{
		gz:   gzipBytes(b),
		etag: hex.EncodeToString(sum[:12]) + "-v" + strconv.FormatUint(version, 10),
		size: len(b),
	}, nil
}

// renderTile is the engine's tile within TileTimeout.
func (s *Server) renderTile(ctx context.Context, st *Site, r tiles.Request) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TileTimeout)
	defer cancel()
	return st.Engine.Tile(ctx, r)
}
