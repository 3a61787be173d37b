// Command staticserve is the "static bytes" baseline of the cached-tile
// benchmark: it fetches every URL of a workload once from a running
// flowtiles (gzipped, as a browser asks) and then serves those exact bytes
// and headers from memory with net/http — the HTTP limit of the machine for
// this workload, against which flowtiles' cached tiles are measured.
//
//	staticserve -from http://127.0.0.1:8080 -workload bench/workload/planner.txt -listen 127.0.0.1:8090
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
)

type reply struct {
	status int
	header http.Header
	body   []byte
}

func main() {
	from := flag.String("from", "http://127.0.0.1:8080", "flowtiles to copy the replies from")
	workload := flag.String("workload", "bench/workload/planner.txt", "tile paths")
	listen := flag.String("listen", "127.0.0.1:8090", "address to serve on")
	flag.Parse()
	f, err := os.Open(*workload)
	if err != nil {
		log.Fatal(err)
	}
	replies := map[string]reply{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		req, _ := http.NewRequest(http.MethodGet, *from+p, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := http.DefaultTransport.RoundTrip(req) // keeps the body gzipped
		if err != nil {
			log.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		h := http.Header{}
		for _, k := range []string{"Content-Type", "Content-Encoding", "Etag", "Cache-Control", "Vary"} {
			if v := res.Header.Get(k); v != "" {
				h.Set(k, v)
			}
		}
		replies[p] = reply{res.StatusCode, h, b}
	}
	log.Printf("serving %d replies on %s", len(replies), *listen)
	log.Fatal(http.ListenAndServe(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp, ok := replies[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range rp.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rp.status)
		w.Write(rp.body)
	})))
}
