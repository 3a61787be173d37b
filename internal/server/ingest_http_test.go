package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
)

// testDecode reads NDJSON lines {"observed_at","lon","lat","visitor_id"}
// for the HTTP tests, reporting bad lines as "line N: column: reason".
func testDecode(format string, body io.Reader) (presence.Decoded, error) {
	var d presence.Decoded
	if format != "ndjson" {
		return d, fmt.Errorf("test decoder reads ndjson only")
	}
	bad := func(msg string) {
		d.ErrorCount++
		d.Errors = append(d.Errors, msg)
	}
	sc := bufio.NewScanner(body)
	for n := 1; sc.Scan(); n++ {
		var v struct {
			ObservedAt string  `json:"observed_at"`
			Lon        float64 `json:"lon"`
			Lat        float64 `json:"lat"`
			Visitor    string  `json:"visitor_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			bad(fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		t, err := time.Parse(time.RFC3339, v.ObservedAt)
		if err != nil {
			bad(fmt.Sprintf("line %d: observed_at: not an RFC 3339 timestamp", n))
			continue
		}
		if v.Lat < -90 || v.Lat > 90 {
			bad(fmt.Sprintf("line %d: lat: %v is not a latitude", n, v.Lat))
			continue
		}
		d.Records = append(d.Records, presence.Record{ObservedAt: t, Lon: v.Lon, Lat: v.Lat, Weight: 1, Visitor: presence.VisitorHash(v.Visitor)})
	}
	return d, nil
}

// ndjson returns n records at the centre, observed now.
func ndjson(prefix string, n int, at time.Time) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"observed_at":%q,"lon":%v,"lat":%v,"visitor_id":"%s%d"}`+"\n", at.Format(time.RFC3339), sourcetest.Centre[0], sourcetest.Centre[1], prefix, i)
	}
	return b.String()
}

func post(t testing.TB, url, token, ctype, body string, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/ingest", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("response body: %v", err)
	}
	return resp, out
}

func TestIngestOff(t *testing.T) {
	env := newLiveEnv(t, time.Second, "")
	resp, body := post(t, env.srv.URL, "anything", "application/x-ndjson", ndjson("a", 1, time.Now()))
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body["error"].(string), "ingest is off") {
		t.Errorf("%d %v", resp.StatusCode, body)
	}
}

func TestIngestErrors(t *testing.T) {
	env := newLiveEnv(t, time.Second, "tok1,tok2")
	now := time.Now()
	good := ndjson("a", 3, now)
	for _, c := range []struct {
		name, token, ctype, body string
		status                   int
		want                     string
	}{
		{"no token", "", "application/x-ndjson", good, 401, "bearer token"},
		{"wrong token", "tok3", "application/x-ndjson", good, 401, "bearer token"},
		{"prefix of a token", "tok", "application/x-ndjson", good, 401, "bearer token"},
		{"content type", "tok1", "application/xml", good, 415, "unsupported content type"},
		{"too large", "tok1", "application/x-ndjson", ndjson("big", 1000, now), 413, "body over 65536 bytes"},
		{"bad rows", "tok2", "application/x-ndjson", good + `{"observed_at":"yesterday","lon":12,"lat":43}` + "\n" + `{"observed_at":"2025-03-03T10:00:00+01:00","lon":12,"lat":123.5}` + "\n", 400, "2 invalid records"},
		{"empty", "tok2", "application/x-ndjson", "", 400, "no records"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, env.srv.URL, c.token, c.ctype, c.body)
			if resp.StatusCode != c.status || !strings.Contains(fmt.Sprint(body["error"]), c.want) {
				t.Errorf("%s: %d %v, want %d %q", c.name, resp.StatusCode, body, c.status, c.want)
			}
			if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate", c.name)
			}
			if c.name == "bad rows" {
				errs := fmt.Sprint(body["errors"])
				if !strings.Contains(errs, "line 4: observed_at: not an RFC 3339 timestamp") || !strings.Contains(errs, "line 5: lat: 123.5 is not a latitude") || body["error_count"] != 2.0 {
					t.Errorf("row errors: %v", body)
				}
			}
		})
	}
	if n := env.store.Stats().Rows; n != 0 {
		t.Errorf("%d rows stored by rejected requests", n)
	}
}

func TestIngestIdempotent(t *testing.T) {
	env := newLiveEnv(t, time.Second, "tok1")
	body := ndjson("a", 3, time.Now())
	resp, out := post(t, env.srv.URL, "tok1", "application/x-ndjson", body)
	if resp.StatusCode != http.StatusCreated || out["records"] != 3.0 || out["duplicate"] != false || out["data_version"] != 1.0 {
		t.Fatalf("first post: %d %v", resp.StatusCode, out)
	}
	// The same body again (no key): its checksum names the batch.
	resp, out2 := post(t, env.srv.URL, "tok1", "application/x-ndjson; charset=utf-8", body)
	if resp.StatusCode != http.StatusOK || out2["duplicate"] != true || out2["batch"] != out["batch"] {
		t.Errorf("second post: %d %v", resp.StatusCode, out2)
	}
	// A new key is a new batch; the same key with the same body a retry.
	other := ndjson("b", 2, time.Now())
	if resp, out := post(t, env.srv.URL, "tok1", "application/x-ndjson", other, "Idempotency-Key", "feed-7"); resp.StatusCode != http.StatusCreated || out["batch"] != "feed-7" {
		t.Errorf("keyed post: %d %v", resp.StatusCode, out)
	}
	if resp, out := post(t, env.srv.URL, "tok1", "application/x-ndjson", other, "Idempotency-Key", "feed-7"); resp.StatusCode != http.StatusOK || out["duplicate"] != true {
		t.Errorf("same key and body again: %d %v", resp.StatusCode, out)
	}
	if n := env.store.Stats().Rows; n != 5 {
		t.Errorf("%d rows, want 3+2", n)
	}
}

// An Idempotency-Key is bound to its body (another body under it is a 409,
// nothing stored), scoped by token, and never lets the same body in twice.
func TestIngestKeyBoundToBody(t *testing.T) {
	env := newLiveEnv(t, time.Second, "tok1,tok2")
	body := ndjson("a", 3, time.Now())
	if resp, out := post(t, env.srv.URL, "tok1", "application/x-ndjson", body, "Idempotency-Key", "k"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("first: %d %v", resp.StatusCode, out)
	}
	resp, out := post(t, env.srv.URL, "tok1", "application/x-ndjson", ndjson("other", 4, time.Now()), "Idempotency-Key", "k")
	if resp.StatusCode != http.StatusConflict || out["param"] != "Idempotency-Key" || !strings.Contains(fmt.Sprint(out["error"]), "different body") {
		t.Errorf("same key, other body: %d %v", resp.StatusCode, out)
	}
	// the same body under two more keys: one batch
	for _, key := range []string{"k2", "k3"} {
		if resp, out := post(t, env.srv.URL, "tok1", "application/x-ndjson", body, "Idempotency-Key", key); resp.StatusCode != http.StatusOK || out["duplicate"] != true {
			t.Errorf("body again under %s: %d %v", key, resp.StatusCode, out)
		}
	}
	// another token's "k" is its own key
	if resp, out := post(t, env.srv.URL, "tok2", "application/x-ndjson", ndjson("t2", 5, time.Now()), "Idempotency-Key", "k"); resp.StatusCode != http.StatusCreated {
		t.Errorf("another token's k: %d %v", resp.StatusCode, out)
	}
	if n := env.store.Stats().Rows; n != 8 {
		t.Errorf("%d rows, want 3+5", n)
	}
}

func TestIngestToLive(t *testing.T) {
	env := newLiveEnv(t, time.Second, "tok1")
	c := env.subscribe(t)
	c.wait(t, 2*time.Second, "event: live", `"data_version":0`)
	// People arriving in the current step announce new data at once, but
	// the live figures are of whole steps: they do not show until the
	// step has ended (single arrivals never show).
	step := env.now.Truncate(15 * time.Minute)
	resp, _ := post(t, env.srv.URL, "tok1", "application/x-ndjson", ndjson("now", 20, step.Add(time.Minute)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("post: %d", resp.StatusCode)
	}
	c.wait(t, 2*time.Second, "event: tiles", `"data_version":1`)
	ev := c.wait(t, 5*time.Second, "event: live", `"data_version":1`)
	if !strings.Contains(ev, `"zone":"centro","name":"centro","present":{"suppressed":true}`) {
		t.Errorf("people of the current step shown: %s", ev)
	}
	// People in the last completed step: the figures follow within a second
	// of the tiles event.
	start := time.Now()
	resp, _ = post(t, env.srv.URL, "tok1", "application/x-ndjson", ndjson("k", 20, step.Add(-time.Minute)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("post: %d", resp.StatusCode)
	}
	c.wait(t, 5*time.Second, "event: tiles", `"data_version":2`)
	t.Logf("tiles event %v after the post", time.Since(start))
	ev = c.wait(t, 5*time.Second, "event: live", `"data_version":2`)
	if !strings.Contains(ev, `"zone":"centro","name":"centro","present":{"value":20}`) {
		t.Errorf("live event after ingest: %s", ev)
	}
}
