package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/flowtiles/flowtiles/"

// deps lists the packages pkg depends on, directly or not (go list -deps,
// without tests).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// The import rules of docs/ARCHITECTURE.md, each a package and what its
// dependencies must not include.
func TestImportRules(t *testing.T) {
	for name, c := range map[string]struct {
		pkg    string
		forbid func(dep string) bool
	}{
		"live imports only tiles of ours": {"internal/live", func(d string) bool {
			return strings.HasPrefix(d, module) && d != module+"tiles" && d != module+"internal/live"
		}},
		"pgstore does not import memstore": {"internal/pgstore", func(d string) bool { return d == module+"internal/memstore" }},
		"server imports no database driver": {"internal/server", func(d string) bool {
			// (database/sql itself comes with Prometheus's collectors)
			return strings.HasPrefix(d, "github.com/jackc/") || strings.HasPrefix(d, "github.com/lib/pq") ||
				d == module+"internal/db" || d == module+"internal/pgstore" || d == module+"internal/ingest"
		}},
		"ingest does not import live": {"internal/ingest", func(d string) bool { return d == module+"internal/live" }},
		"tiles knows no HTTP and no SQL": {"tiles", func(d string) bool {
			return d == "net/http" || d == "database/sql" || strings.HasPrefix(d, "github.com/labstack/") || strings.HasPrefix(d, "github.com/jackc/") ||
				strings.HasPrefix(d, module+"internal/")
		}},
		"stores know no HTTP": {"internal/memstore", func(d string) bool {
			return d == "net/http" || strings.HasPrefix(d, "github.com/labstack/")
		}},
		"stats knows no HTTP and no SQL": {"internal/stats", func(d string) bool {
			return d == "net/http" || strings.HasPrefix(d, "github.com/labstack/") || strings.HasPrefix(d, "github.com/jackc/")
		}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, d := range deps(t, c.pkg) {
				if c.forbid(d) {
					t.Errorf("%s depends on %s", c.pkg, d)
				}
			}
		})
	}
}
