// Command towns makes and measures a deployment of many towns on one
// database (issue 17).
//
// towns make builds the data: -towns real Umbrian municipalities (Deruta,
// Torgiano, then the others by ISTAT code) added as towns (towns.Add, the
// perimeter the municipality's), each with about -records records inside
// its perimeter, loaded through the real ingest path (ingest.Loader, one
// CSV file and one batch per town) into the database of -db (migrated, its
// other towns kept; the migration's placeholder town "town", which has no
// perimeter, is removed). Deruta's and Torgiano's records are their demo
// data; every other town's are Deruta's generator's, seeded for the town,
// moved from Deruta's piazza to a point inside the municipality, and kept
// only where the town index places them in the town. The same flags give
// the same records. It also writes, for the towns of -daily, their daily
// batches for the -days days after the data's period, as CSV files in
// -out, to post while serving (towns post).
//
//	go run ./bench/towns make -db postgres://... -towns 50 -records 1000000 -out /tmp/towns
//
// It prints the parameters ("PARAMS towns records seed"), one line per
// town ("TOWN code istat lon lat records") and a last line
// "RESULT towns=N records=R load_s=L wall_s=W" (load_s: the loader's time,
// wall_s: generation and loading, the next town's file generated while one
// loads).
//
// towns post measures the ingest of daily batches while serving: -clients
// clients request uncached density tiles of the town (a window of its
// own per request: 30 days or more within the data) on the server of -url (a town's
// /t/{town} prefix) for -quiet without ingest (the baseline), then the
// files are posted to -url/api/ingest one after the other, -gap apart,
// while the clients go on. It reports the time to each 201 and the tile
// latency of the requests sent during the posts against the quiet ones.
//
//	go run ./bench/towns post -url http://127.0.0.1:8095/t/deruta -token bench -lon 12.4177 -lat 42.9826 deruta-2025-09-01.csv
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "make":
		err = runMake(os.Args[2:])
	case "post":
		err = runPost(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "towns:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: towns make -db URL -towns N -records M -out DIR | towns post -url URL -token T FILE...")
	os.Exit(2)
}
