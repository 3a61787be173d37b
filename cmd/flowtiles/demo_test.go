package main

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/internal/demo"
)

// `flowtiles demo --town torgiano` writes Torgiano's data: every record
// in its historic centre; without --town, Deruta's; another town is
// refused.
func TestDemoCommandTown(t *testing.T) {
	dir := t.TempDir()
	env := &Env{Ctx: context.Background(), Log: slog.New(slog.DiscardHandler)}
	for _, town := range []string{"", demo.Deruta, demo.Torgiano} {
		out := filepath.Join(dir, "demo-"+town+".csv")
		args := []string{"demo", "--records", "3000", "--months", "1", "--out", out}
		if town != "" {
			args = append(args, "--town", town)
		}
		var cli CLI
		k, err := kong.New(&cli, kong.Name("flowtiles"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Parse(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if err := cli.Demo.Run(env); err != nil {
			t.Fatal(err)
		}
		want := town
		if want == "" {
			want = demo.Deruta
		}
		dt, _ := demo.LookupTown(want, "Europe/Rome")
		centre := dt.Zones()[0].Shape
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			if n++; n == 1 {
				continue // the header
			}
			col := strings.Split(sc.Text(), ",")
			lon, _ := strconv.ParseFloat(col[1], 64)
			lat, _ := strconv.ParseFloat(col[2], 64)
			if !planar.MultiPolygonContains(centre, orb.Point{lon, lat}) {
				t.Fatalf("--town %q: record %s outside %s's centre", town, sc.Text(), want)
			}
		}
		f.Close()
		if n < 1000 {
			t.Errorf("--town %q: %d lines", town, n)
		}
	}
	var cli CLI
	k, _ := kong.New(&cli, kong.Name("flowtiles"))
	if _, err := k.Parse([]string{"demo", "--town", "perugia"}); err == nil {
		t.Error("--town perugia: accepted")
	}
}
