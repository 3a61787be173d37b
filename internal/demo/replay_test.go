package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

func TestReplay(t *testing.T) {
	type posted struct {
		at   time.Time
		line map[string]any
	}
	var (
		mu   sync.Mutex
		got  []posted
		keys = map[string]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer T" || r.Header.Get("Content-Type") != "application/x-ndjson" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		keys[r.Header.Get("Idempotency-Key")] = true
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Error(err)
			}
			got = append(got, posted{time.Now(), l})
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	// A week ago, from 1 s before this moment to 30 s after, every 100 ms.
	start := time.Now()
	var recs []presence.Record
	for i := -10; i <= 300; i++ {
		recs = append(recs, presence.Record{ObservedAt: start.AddDate(0, 0, -7).Add(time.Duration(i) * 100 * time.Millisecond),
			Lon: sourcetest.Centre[0], Lat: sourcetest.Centre[1], Weight: 1, Visitor: presence.VisitorHash("v"), Age: tiles.Age25to34, Origin: "054017"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	err := (&Replay{URL: srv.URL, Token: "T", Every: 200 * time.Millisecond}).Run(ctx, recs)
	if err != context.DeadlineExceeded {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The records of the first second have arrived, shifted to now.
	if len(got) < 8 || len(got) > 13 {
		t.Errorf("%d records posted in 1.2 s, want about 10", len(got))
	}
	for _, p := range got {
		at, err := time.Parse(time.RFC3339, p.line["observed_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if d := p.at.Sub(at); d < 0 || d > 2*time.Second {
			t.Errorf("record observed at %v posted at %v", at, p.at)
		}
		if p.line["age_band"] != "25-34" || p.line["origin_code"] != "054017" || !strings.HasPrefix(p.line["visitor_id"].(string), "h") || p.line["gender"] != nil {
			t.Errorf("line %v", p.line)
		}
	}
	if len(keys) < 2 {
		t.Errorf("batch keys %v: each post needs its own", keys)
	}

	// A refusal stops the replay.
	err = (&Replay{URL: srv.URL, Token: "wrong", Every: 50 * time.Millisecond}).Run(context.Background(), recs)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
}
