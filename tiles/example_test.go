package tiles_test

import (
	"context"
	"fmt"

	"github.com/paulmach/orb/encoding/mvt"

	"github.com/flowtiles/flowtiles/tiles"
)

// crowd is the smallest useful Source: n people, each seen once at one
// point. A real store also filters by time and attributes and groups by
// every Dim; this one answers the density layer's question only.
type crowd struct {
	at tiles.World
	n  int64
}

func (c crowd) Aggregate(_ context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	if !q.Area.Contains(c.at) || len(q.By) != 1 || q.By[0] != tiles.DimBin {
		return nil
	}
	g := tiles.Group{Measures: tiles.Measures{Count: c.n, Visitors: c.n}}
	g.Key[0] = int64(q.Grid.ID(q.Grid.BinOf(c.at)))
	for i := range c.n { // the keys of the people behind the group
		g.CountKey += tiles.RecordKey(1748944800, c.at, 1, i+1)
		g.PeopleKey += tiles.VisitorKey(i + 1)
	}
	return fn(g)
}

func ExampleEngine_Tile() {
	priv, err := tiles.NewPrivacy(tiles.DefaultK, []byte("the database's secret, 16+ bytes"), tiles.DefaultNoiseD, tiles.DefaultNoiseGrowth)
	if err != nil {
		panic(err)
	}
	piazza := tiles.Project(12.4177, 42.9826) // Deruta, Piazza dei Consoli
	e := tiles.NewEngine(crowd{at: piazza, n: 40}, tiles.NewGazetteer(nil), tiles.Config{Privacy: priv})
	b, err := e.Tile(context.Background(), tiles.Request{Layer: tiles.LayerDensity, Tile: tiles.TileAt(16, piazza)})
	if err != nil {
		panic(err)
	}
	layers, err := mvt.Unmarshal(b)
	if err != nil {
		panic(err)
	}
	for _, l := range layers {
		for _, f := range l.Features {
			v := f.Properties["visitors"].(float64)
			fmt.Printf("%s: a bin of 40 people published as %v (within ±%d)\n", l.Name, v, priv.Bound(40))
		}
	}
	// Output:
	// density: a bin of 40 people published as 38 (within ±5)
	// density_points: a bin of 40 people published as 38 (within ±5)
}
