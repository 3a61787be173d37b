package refdata

import (
	"strings"

	"github.com/flowtiles/flowtiles/tiles"
)

// Resolver resolves the origin and zone names of filters: origins from
// the catalog, zones by name (case-insensitive).
type Resolver struct {
	Catalog *Catalog
	Zones   []tiles.Place
}

// ResolveOrigin implements tiles.Resolver.
func (r Resolver) ResolveOrigin(code string) ([]string, bool) { return r.Catalog.ResolveOrigin(code) }

// ZoneID implements tiles.Resolver.
func (r Resolver) ZoneID(name string) (int, bool) {
	for _, z := range r.Zones {
		if strings.EqualFold(z.Code, name) {
			return int(z.Key), true
		}
	}
	return 0, false
}
