// Command mkarchive writes a small sample basemap archive for the browser
// tests (serve --basemap FILE):
//
//	go run ./internal/basemap/mkarchive [-schema protomaps|plain] OUT.pmtiles|OUT.mbtiles
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/flowtiles/flowtiles/internal/basemap/sample"
)

func main() {
	schema := flag.String("schema", "protomaps", "tile schema: protomaps or plain")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: mkarchive [-schema protomaps|plain] OUT.pmtiles|OUT.mbtiles")
		os.Exit(2)
	}
	out := flag.Arg(0)
	var err error
	if strings.HasSuffix(out, ".mbtiles") {
		err = sample.WriteMBTiles(out, *schema)
	} else {
		err = sample.WritePMTiles(out, *schema)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkarchive:", err)
		os.Exit(1)
	}
}
