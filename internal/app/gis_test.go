package app

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/paulmach/orb/encoding/mvt"

	"github.com/flowtiles/flowtiles/tiles"
)

var ogrFeatures = regexp.MustCompile(`(?m)^Feature Count: (\d+)`)

// GIS software reads each town's tiles under its prefix: GDAL opens
// /t/{town}/tiles/density/14 as a tileset directory (its metadata.json the
// town's TileJSON: bounds where the town's people are, tile URLs under its
// prefix) and reads every feature that the tiles, fetched and decoded one
// by one, hold; the two towns' figures are their own.
func TestGDALReadsATownsTiles(t *testing.T) {
	if _, err := exec.LookPath("ogrinfo"); err != nil {
		if os.Getenv("FLOWTILES_TEST_STRICT") != "" {
			t.Fatalf("ogrinfo: %v (scripts/prereqs installs gdal-bin)", err)
		}
		t.Skipf("ogrinfo: %v (scripts/prereqs installs gdal-bin)", err)
	}
	_, srv := start(t, Config{DemoRecords: 40000, DemoSeed: 5})
	centres := map[string][2]float64{"deruta": {12.4177, 42.9826}, "torgiano": {12.43367, 43.02551}}
	counts := map[string]int{}
	for town, ctr := range centres {
		prefix := srv.URL + "/t/" + town
		code, body := get(t, prefix+"/tiles/density/metadata.json")
		var doc struct {
			Tiles  []string
			Bounds [4]float64
		}
		if err := json.Unmarshal(body, &doc); code != 200 || err != nil {
			t.Fatalf("%s metadata: %d %s", town, code, body)
		}
		if len(doc.Tiles) != 1 || len(doc.Tiles[0]) < len(prefix) || doc.Tiles[0][:len(prefix)+1] != prefix+"/" {
			t.Fatalf("%s: tiles %v, want under %s/", town, doc.Tiles, prefix)
		}
		b := doc.Bounds
		if ctr[0] < b[0] || ctr[0] > b[2] || ctr[1] < b[1] || ctr[1] > b[3] || b[2]-b[0] > 0.2 || b[3]-b[1] > 0.2 {
			t.Fatalf("%s: bounds %v are not around the town's centre %v", town, b, ctr)
		}
		// the tiles GDAL walks, decoded one by one
		lo, hi := tiles.TileAt(14, tiles.Project(b[0], b[3])), tiles.TileAt(14, tiles.Project(b[2], b[1]))
		want := 0
		for x := lo.X; x <= hi.X; x++ {
			for y := lo.Y; y <= hi.Y; y++ {
				code, body := get(t, fmt.Sprintf("%s/tiles/density/14/%d/%d.mvt", prefix, x, y))
				if code == 204 {
					continue
				}
				ls, err := mvt.Unmarshal(body)
				if code != 200 || err != nil {
					t.Fatalf("%s tile 14/%d/%d: %d %v", town, x, y, code, err)
				}
				for _, l := range ls {
					want += len(l.Features)
				}
			}
		}
		if want == 0 {
			t.Fatalf("%s: no features at zoom 14 within %v", town, b)
		}
		dir := "MVT:/vsicurl/" + prefix + "/tiles/density/14"
		out, err := exec.Command("ogrinfo", "-ro", "-al", "-so", "-oo", "TILE_EXTENSION=mvt", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("ogrinfo %s: %v\n%s", dir, err, out)
		}
		got := 0
		for _, m := range ogrFeatures.FindAllStringSubmatch(string(out), -1) {
			n, _ := strconv.Atoi(m[1])
			got += n
		}
		if got != want {
			t.Errorf("%s: GDAL read %d features, the tiles hold %d\n%.2000s", dir, got, want, out)
		}
		counts[town] = got
	}
	t.Logf("features at zoom 14: %v", counts)
}
