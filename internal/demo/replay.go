package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/flowtiles/flowtiles/internal/presence"
)

// Replay posts records to a running server's POST /api/ingest as if they
// were arriving now, so that a kiosk can be seen moving (`flowtiles demo
// --live`). It shifts the records by whole weeks, so that weekdays and
// times of day stay as they were: it starts from the most recent moment in
// the data that falls on the current weekday and time, and sends, every
// Every, the records of the time that has passed since. When the data runs
// out it goes back a week more and carries on.
type Replay struct {
	URL   string // server base URL, e.g. http://127.0.0.1:8080
	Token string // ingest bearer token
	// Every is the pause between two posts (default 2 s).
	Every  time.Duration
	Client *http.Client
	Now    func() time.Time
	Log    *slog.Logger
}

// Run replays recs (which it sorts by time) until ctx ends. It stops at
// the first refusal of the server (bad token, rejected records); network
// errors are logged and the batch is retried with the next one.
func (r *Replay) Run(ctx context.Context, recs []presence.Record) error {
	if len(recs) == 0 {
		return fmt.Errorf("replay: no records")
	}
	every, now, client, log := r.Every, r.Now, r.Client, r.Log
	if every <= 0 {
		every = 2 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b presence.Record) int { return a.ObservedAt.Compare(b.ObservedAt) })
	first, last := recs[0].ObservedAt, recs[len(recs)-1].ObservedAt
	const week = 7 * 24 * time.Hour
	// offset: the whole weeks between the data and now, the data's most
	// recent week that has reached the current moment.
	start := now()
	weeks := max(int64(start.Sub(last)/week)+1, 0)
	if start.Add(-time.Duration(weeks) * week).Before(first) {
		weeks = int64(start.Sub(first) / week) // data shorter than a week past its start: begin there
	}
	offset := time.Duration(weeks) * week
	cursor := start.Add(-offset) // source time sent up to (exclusive)
	i, _ := slices.BinarySearchFunc(recs, cursor, func(r presence.Record, t time.Time) int { return r.ObservedAt.Compare(t) })
	tick := time.NewTicker(every)
	defer tick.Stop()
	var pending []presence.Record
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		t := now()
		end := t.Add(-offset)
		for ; i < len(recs) && recs[i].ObservedAt.Before(end); i++ {
			rec := recs[i]
			rec.ObservedAt = rec.ObservedAt.Add(offset)
			pending = append(pending, rec)
		}
		if i == len(recs) && end.After(last) { // out of data: a week further back
			offset += week
			i, _ = slices.BinarySearchFunc(recs, t.Add(-offset), func(r presence.Record, t time.Time) int { return r.ObservedAt.Compare(t) })
		}
		if len(pending) == 0 {
			continue
		}
		key := fmt.Sprintf("demo-live-%d-%d", start.UnixNano(), seq)
		err := r.post(ctx, client, key, pending)
		var refused *refusal
		switch {
		case err == nil:
			log.Info("replayed", "records", len(pending), "until", end.Add(offset).Format(time.TimeOnly))
			pending = pending[:0]
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &refused):
			return err
		default:
			log.Warn("replay: posting failed, retrying with the next batch", "err", err)
		}
	}
}

// refusal is a 4xx answer: retrying the same batch would not help.
type refusal struct {
	status int
	body   string
}

func (e *refusal) Error() string {
	return fmt.Sprintf("the server refused the records: %d %s", e.status, e.body)
}

func (r *Replay) post(ctx context.Context, client *http.Client, key string, recs []presence.Record) error {
	body, err := NDJSON(recs)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+"/api/ingest", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.Token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return &refusal{resp.StatusCode, string(bytes.TrimSpace(msg))}
	}
	return fmt.Errorf("posting records: %s", resp.Status)
}

// NDJSON encodes records in the data contract's NDJSON form, one object per
// line, leaving out absent attributes. A record holds only its visitor's
// hash, so its visitor_id is that hash written out ("h" and hex digits):
// the same visitor keeps one id, and the server hashes it again.
func NDJSON(recs []presence.Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	type line struct {
		ObservedAt  string  `json:"observed_at"`
		Lon         float64 `json:"lon"`
		Lat         float64 `json:"lat"`
		Weight      uint32  `json:"weight,omitempty"`
		VisitorID   string  `json:"visitor_id,omitempty"`
		AgeBand     string  `json:"age_band,omitempty"`
		Gender      string  `json:"gender,omitempty"`
		Nationality string  `json:"nationality,omitempty"`
		OriginCode  string  `json:"origin_code,omitempty"`
		SpendClass  string  `json:"spend_class,omitempty"`
	}
	for i := range recs {
		r := &recs[i]
		l := line{ObservedAt: r.ObservedAt.Format(time.RFC3339), Lon: r.Lon, Lat: r.Lat, Weight: r.Weight,
			AgeBand: r.Age.String(), Gender: r.Gender.String(), Nationality: r.Nationality.String(),
			OriginCode: r.Origin, SpendClass: r.Spend.String()}
		if r.Visitor != 0 {
			l.VisitorID = "h" + strconv.FormatUint(uint64(r.Visitor), 16)
		}
		if err := enc.Encode(&l); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
