package styles

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needValidator skips (or, with FLOWTILES_TEST_STRICT=1, fails) when the
// style validator is not installed in static/node_modules.
func needValidator(t *testing.T) {
	t.Helper()
	mod := filepath.Join("..", "static", "node_modules", "@maplibre", "maplibre-gl-style-spec")
	_, err := os.Stat(mod)
	if err == nil {
		_, err = exec.LookPath("node")
	}
	if err != nil {
		if os.Getenv("FLOWTILES_TEST_STRICT") == "1" {
			t.Fatalf("the style validator is not installed (%v): run npm ci in static/", err)
		}
		t.Skip("static/node_modules or node missing: run scripts/test, which installs the style validator")
	}
}

// Every embedded style passes the MapLibre style specification validator.
func TestStylesValidate(t *testing.T) {
	all, err := fs.Glob(FS, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range all {
		if n != "classes.json" { // colour classes, not a style
			names = append(names, n)
		}
	}
	for _, want := range []string{"planner.json", "kiosk.json"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("style %s missing", want)
		}
	}
	for _, n := range names {
		b, _ := fs.ReadFile(FS, n)
		if !strings.Contains(string(b), Placeholder+"/tiles/") {
			t.Errorf("%s: no source points at %s/tiles/", n, Placeholder)
		}
	}
	needValidator(t)
	out, err := exec.Command("node", append([]string{"validate.mjs"}, names...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("style validation: %v\n%s", err, out)
	}
}

// The validator does reject a broken style, so the test above means
// something.
func TestValidatorRejects(t *testing.T) {
	needValidator(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"version": 8, "sources": {}, "layers": [{"id": "x", "type": "fill"}]}`), 0o644)
	out, err := exec.Command("node", "validate.mjs", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "source") {
		t.Fatalf("a layer without a source passed: %v\n%s", err, out)
	}
}

// Each colour class is well formed, and the style documents colour their
// class layers exactly as classes.json says (the server applies it too).
func TestClassesInStyles(t *testing.T) {
	cls, err := LoadClasses()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"density", "origins", "diff", "diff_abs", "live"} {
		if _, ok := cls.Classes[want]; !ok {
			t.Errorf("no class %s", want)
		}
	}
	used := 0
	for _, n := range []string{"planner.json", "kiosk.json"} {
		b, _ := fs.ReadFile(FS, n)
		var doc struct{ Layers []map[string]any }
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, l := range doc.Layers {
			md, _ := l["metadata"].(map[string]any)
			name, _ := md["flowtiles:classes"].(string)
			if name == "" {
				continue
			}
			used++
			got, _ := json.Marshal(l["paint"].(map[string]any)["fill-color"])
			want, _ := json.Marshal(cls.Classes[name].Step())
			if string(got) != string(want) {
				t.Errorf("%s %v: fill-color %s, classes.json says %s", n, l["id"], got, want)
			}
		}
	}
	if used < 3 {
		t.Errorf("%d class layers in the styles", used)
	}
}
