package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
)

// TestRecordingShow: chapters and replayable events of a recording, at their times in the
// video (a reconnect pause cut out), names only, 404 and [] where there is nothing.
func TestRecordingShow(t *testing.T) {
	s := startArchive(t, nil)
	ctx := context.Background()
	c := s.Archive().Catalog()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	end := t0.Add(60 * time.Second)
	// 60 s of wall time; the publisher was away from 30 s to 40 s, so the video is 50 s long.
	for _, r := range []catalog.Recording{
		{ID: "rec", Room: "shop", StartedAt: t0, EndedAt: &end, Duration: 50, Status: catalog.StatusReady},
		{ID: "quiet", Room: "empty", StartedAt: t0, EndedAt: &end, Duration: 60, Status: catalog.StatusReady},
		{ID: "upload", Room: "shop", StartedAt: t0, Duration: 60, Status: catalog.StatusReady, Source: catalog.SourceUpload},
	} {
		if err := c.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for n, p := range []catalog.Part{{WallMs: ms(0), Start: 0}, {WallMs: ms(40 * time.Second), Start: 30}} {
		if err := c.SavePart(ctx, "rec", n, p); err != nil {
			t.Fatal(err)
		}
	}
	ev := func(seq int64, at time.Duration, kind, data string) catalog.LiveEvent {
		return catalog.LiveEvent{Seq: seq, At: ms(at), Kind: kind, Data: json.RawMessage(data)}
	}
	bid := `{"lot_id":"L1","bid":{"n":1,"lot_id":"L1","subject":"sub-ann","name":"Ann","amount":4500,"max_amount":9000,"accepted":true,"leader":"sub-ann"},` +
		`"lot":{"id":"L1","title":"Vintage lamp","status":"open","price":4500,"leader":"sub-ann","leader_name":"Ann","winner":null}}`
	if err := c.SaveLiveEvents(ctx, "shop", []catalog.LiveEvent{
		ev(1, -5*time.Second, "chat", `{"id":1,"subject":"sub-ann","name":"Ann","text":"before the show"}`),
		ev(2, 1500*time.Millisecond, "chat", `{"id":2,"subject":"sub-ann","name":"Ann","text":"hello <b>all</b>"}`),
		ev(3, 2*time.Second, "chat", `{"id":3,"subject":"sub-bob","name":"Bob","text":"spam"}`),
		ev(4, 3*time.Second, "chat.deleted", `{"id":3,"by":"sub-mod"}`),
		ev(5, 5*time.Second, "lot", `{"id":"L1","title":"Vintage lamp","status":"open","price":1000,"leader":null,"winner":null}`),
		ev(6, 10*time.Second, "bid", bid),
		ev(7, 11*time.Second, "reactions", `{"counts":{"heart":4}}`),
		ev(8, 35*time.Second, "chat", `{"id":8,"subject":"sub-bob","name":"Bob","text":"while away"}`),
		ev(9, 45*time.Second, "chat", `{"id":9,"subject":"sub-bob","name":"Bob","text":"back"}`),
		ev(10, 70*time.Second, "chat", `{"id":10,"subject":"sub-bob","name":"Bob","text":"after the end"}`),
	}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []catalog.Lot{
		{Room: "shop", ID: "L0", Seq: 1, Title: "Earlier", Status: "unsold", StartedAt: ms(-20 * time.Second), EndedAt: ms(-10 * time.Second)},
		{Room: "shop", ID: "Lx", Seq: 1, Title: "Across the start", Status: "unsold", Price: 500, StartedAt: ms(-10 * time.Second), EndedAt: ms(2 * time.Second)},
		{Room: "shop", ID: "L1", Seq: 20, Title: "Vintage lamp", Status: "sold", Price: 4500, Winner: "sub-ann", WinnerName: "Ann",
			StartedAt: ms(5 * time.Second), EndedAt: ms(20 * time.Second)},
		{Room: "shop", ID: "L2", Seq: 30, Title: "Teapot", Status: "open", Price: 800, StartedAt: ms(45 * time.Second)},
		{Room: "other", ID: "L9", Seq: 1, Title: "Elsewhere", Status: "sold", StartedAt: ms(5 * time.Second), EndedAt: ms(6 * time.Second)},
	} {
		if err := c.SaveLot(ctx, l, nil); err != nil {
			t.Fatal(err)
		}
	}

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(s.Base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := get("/api/recordings/rec/chapters")
	if code != 200 {
		t.Fatalf("chapters: %d %s", code, body)
	}
	var chapters []map[string]any
	if err := json.Unmarshal([]byte(body), &chapters); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range chapters {
		got = append(got, fmt.Sprintf("%v %v %v-%v won=%v %v %v %q", ch["lot_id"], ch["title"], ch["start_s"], ch["end_s"], ch["won_s"],
			ch["status"], ch["price"], ch["winner_name"]))
	}
	want := []string{
		`Lx Across the start 0-2 won=<nil> unsold 500 ""`,
		`L1 Vintage lamp 5-20 won=20 sold 4500 "Ann"`,
		`L2 Teapot 35-50 won=<nil> open 800 ""`, // still open when the recording ended: up to its end
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("chapters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(body, "sub-") {
		t.Fatalf("chapters carry a subject: %s", body)
	}

	code, body = get("/api/recordings/rec/events")
	if code != 200 {
		t.Fatalf("events: %d %s", code, body)
	}
	var evs []struct {
		T    float64         `json:"t"`
		Seq  int64           `json:"seq"`
		Kind string          `json:"kind"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &evs); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%d %s t=%v", e.Seq, e.Kind, e.T))
	}
	// Deleted chat (3), its deletion (4), reactions (7) and what lies outside the recording
	// (1, 10) are left out; the message sent while the publisher was away (8) shows where the
	// video resumes (30 s), the one after it (9) 5 s later.
	want = []string{"2 chat t=1.5", "5 lot t=5", "6 bid t=10", "8 chat t=30", "9 chat t=35"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("events: %s\nwant:   %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	for _, bad := range []string{"sub-", "max_amount", "spam", `"leader"`, `"winner"`, `"subject"`} {
		if strings.Contains(body, bad) {
			t.Errorf("public events carry %q: %s", bad, body)
		}
	}
	var b struct {
		Bid struct {
			Name   string `json:"name"`
			Amount int64  `json:"amount"`
		} `json:"bid"`
		Lot struct {
			LeaderName string `json:"leader_name"`
		} `json:"lot"`
	}
	if err := json.Unmarshal(evs[2].Data, &b); err != nil || b.Bid.Name != "Ann" || b.Bid.Amount != 4500 || b.Lot.LeaderName != "Ann" {
		t.Fatalf("bid data %s (%v): the names and amounts must stay", evs[2].Data, err)
	}
	var chat struct{ Name, Text string }
	if err := json.Unmarshal(evs[0].Data, &chat); err != nil || chat.Name != "Ann" || chat.Text != "hello <b>all</b>" {
		t.Fatalf("chat data %s", evs[0].Data)
	}

	// Pages: after a seq, a limit.
	code, body = get("/api/recordings/rec/events?after=5&limit=2")
	if code != 200 || !strings.Contains(body, `"seq":6`) || !strings.Contains(body, `"seq":8`) || strings.Contains(body, `"seq":9`) {
		t.Fatalf("page: %d %s", code, body)
	}
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/api/recordings/nope/chapters", 404, "no such recording"},
		{"/api/recordings/nope/events", 404, "no such recording"},
		{"/api/recordings/quiet/chapters", 200, "[]"},
		{"/api/recordings/quiet/events", 200, "[]"},
		{"/api/recordings/upload/chapters", 200, "[]"},
		{"/api/recordings/upload/events", 200, "[]"},
		{"/api/recordings/rec/events?limit=0", 400, "positive"},
		{"/api/recordings/rec/events?after=x", 400, "positive"},
	} {
		code, body := get(tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %s, want %d %s", tc.path, code, body, tc.code, tc.body)
		}
	}

	// Deleting the recording deletes its show: the events of its span and the lots inside it;
	// what lies outside (before, after, a lot across its start or still open) stays.
	if code := do(t, http.MethodDelete, s.Base+"/api/recordings/rec", s.Token(t, auth.AnyRoom, auth.GrantAdmin), ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	left, err := c.LiveEvents(ctx, "shop", 0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, e := range left {
		got = append(got, fmt.Sprint(e.Seq))
	}
	if strings.Join(got, " ") != "1 10" {
		t.Errorf("events left after the delete: %v, want 1 10", got)
	}
	for id, want := range map[string]bool{"L0": true, "Lx": true, "L1": false, "L2": true} {
		if _, err := c.GetLot(ctx, "shop", id); (err == nil) != want {
			t.Errorf("lot %s after the delete: %v, kept %v", id, err, want)
		}
	}
	if parts, err := c.Parts(ctx, "rec"); err != nil || len(parts) != 0 {
		t.Errorf("parts after the delete: %v %v", parts, err)
	}
	if code, _ := get("/api/recordings/rec/chapters"); code != http.StatusNotFound {
		t.Errorf("chapters of the deleted recording: %d", code)
	}
}
