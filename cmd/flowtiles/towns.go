package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// TownsCmd is the `flowtiles towns` subcommand.
type TownsCmd struct {
	Add    TownsAddCmd    `cmd:"" help:"Add a town, or change the town with that code."`
	List   TownsListCmd   `cmd:"" help:"List the towns."`
	Remove TownsRemoveCmd `cmd:"" help:"Remove a town (not the last one)."`
}

// TownsAddCmd is `flowtiles towns add CODE [--istat CODE] ...`.
type TownsAddCmd struct {
	Code        string            `arg:"" help:"The town's name in URLs (/t/CODE/): lower-case letters, digits and hyphens."`
	ISTAT       string            `name:"istat" help:"ISTAT code of the municipality: its name, population and perimeter come from the reference areas."`
	Name        string            `help:"The town's name in its own language (default: the municipality's)."`
	Names       map[string]string `help:"The town's name in other languages, e.g. en=Deruta (repeatable)." mapsep:","`
	TimeZone    string            `name:"tz" help:"The town's time zone." default:"Europe/Rome"`
	Buffer      float64           `help:"Metres beyond the perimeter whose records still belong to the town (0-5000)." default:"0"`
	Center      string            `help:"Where the maps open: LON,LAT (default: the middle of the data)."`
	Zoom        float64           `help:"The maps' zoom (0: the pages' own)." default:"0"`
	K           int64             `name:"k" help:"A privacy threshold stricter than the server's --k for this town (0: the server's)." default:"0"`
	NoiseD      int64             `name:"noise-d" help:"A noise bound stricter than the server's (0: the server's)." default:"0"`
	NoiseGrowth float64           `name:"noise-growth" help:"A noise growth stricter than the server's (0: the server's)." default:"0"`
	KioskTitle  map[string]string `help:"The kiosk's headline per language, e.g. it=Centro storico (repeatable; default: the page's own naming the town)." mapsep:"|"`
	KioskLang   string            `help:"The kiosk's language when its URL names none." enum:"it,en" default:"it"`
	KioskZoom   float64           `help:"The kiosk map's zoom (0: the page's own)." default:"0"`
	Database    `embed:""`
}

// Run adds or updates the town and prints it.
func (c *TownsAddCmd) Run(env *Env) error {
	t := tiles.Town{
		Code: c.Code, ISTAT: c.ISTAT, Name: c.Name, Names: c.Names, TimeZone: c.TimeZone, Buffer: c.Buffer,
		Zoom: c.Zoom, K: c.K, NoiseD: c.NoiseD, NoiseGrowth: c.NoiseGrowth,
		Kiosk: tiles.Kiosk{Title: c.KioskTitle, Lang: c.KioskLang, Zoom: c.KioskZoom},
	}
	if c.Center != "" {
		p, err := parseLonLat(c.Center)
		if err != nil {
			return fmt.Errorf("--center %q: %w", c.Center, err)
		}
		t.Center = p
	}
	pool, err := c.Open(env.Ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	t, err = towns.Add(env.Ctx, pool, t)
	if err != nil {
		return err
	}
	fmt.Printf("town %s: %s", t.Code, t.Name)
	if t.ISTAT != "" {
		fmt.Printf(" (ISTAT %s, %d residents, perimeter of %d polygons)", t.ISTAT, t.Population, len(t.Perimeter))
	}
	fmt.Println()
	return nil
}

func parseLonLat(s string) (orb.Point, error) {
	lon, lat, ok := strings.Cut(s, ",")
	x, err1 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
	y, err2 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	if !ok || err1 != nil || err2 != nil {
		return orb.Point{}, fmt.Errorf("want LON,LAT in degrees")
	}
	return orb.Point{x, y}, nil
}

// TownsListCmd is `flowtiles towns list`.
type TownsListCmd struct {
	Database `embed:""`
}

// Run prints the towns.
func (c *TownsListCmd) Run(env *Env) error {
	pool, err := c.Open(env.Ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	ts, err := towns.Load(env.Ctx, pool)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "code\tname\tistat\tpopulation\tperimeter\ttime zone\tk")
	for _, t := range ts {
		perimeter := "none (every record)"
		if len(t.Perimeter) > 0 {
			perimeter = fmt.Sprintf("%d polygons", len(t.Perimeter))
			if t.Buffer > 0 {
				perimeter += fmt.Sprintf(" + %g m", t.Buffer)
			}
		}
		k := "server's"
		if t.K > 0 {
			k = strconv.FormatInt(t.K, 10)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", t.Code, t.Name, t.ISTAT, t.Population, perimeter, t.TimeZone, k)
	}
	return w.Flush()
}

// TownsRemoveCmd is `flowtiles towns remove CODE`.
type TownsRemoveCmd struct {
	Code     string `arg:"" help:"The town's code."`
	Database `embed:""`
}

// Run removes the town.
func (c *TownsRemoveCmd) Run(env *Env) error {
	pool, err := c.Open(env.Ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := towns.Remove(env.Ctx, pool, c.Code); err != nil {
		return err
	}
	fmt.Printf("town %s removed\n", c.Code)
	return nil
}
