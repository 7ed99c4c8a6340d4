package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/server"
)

// roomStream is a second handle on the server's room event stream (same Redis, same channel),
// to emit chat and lot events the way the chat and auction packages do (K2/K3 shapes).
func roomStream(t *testing.T, srv *server.Server) *stream.Log {
	t.Helper()
	opt := srv.Archive().RedisOpt()
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	l, err := stream.New(stream.Params{Redis: rdb, Prefix: stream.DefaultPrefix,
		Channel: archive.ChannelFor(stream.DefaultPrefix+":events", opt)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// TestPlayerShowChaptersAndChat: a broadcast with chat, a moderated message and a lot sold on
// the way is recorded; the player lists the lot as a chapter (list and seek-bar mark, a click
// seeks to it) and replays the chat in sync with the video: a message is not there just before
// its time, appears once playback reaches it, a seek back removes it, the deleted one never
// shows, and markup in a message is shown as text.
func TestPlayerShowChaptersAndChat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes")
	}
	needFFmpeg(t)
	srv := startServer(t)
	live := roomStream(t, srv)
	ctx := context.Background()

	pub, stop := publish(t, srv, "shop", 9*time.Second)
	waitRecording(t, srv, "shop", catalog.StatusRecording, 15*time.Second)
	emit := func(kind string, data any) stream.Event {
		t.Helper()
		e, err := live.Emit(ctx, "shop", kind, data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	lot := func(status string, price int64, started, ended int64) map[string]any {
		d := map[string]any{"id": "lamp1", "room": "shop", "title": "Vintage lamp", "status": status, "price": price, "start_price": 1000,
			"started_at": started, "ended_at": ended, "leader": nil, "winner": nil, "winner_name": "", "bid_count": 0, "extensions": 0}
		if status == "sold" {
			d["winner"], d["winner_name"], d["leader"], d["leader_name"] = "sub-ann", "Ann", "sub-ann", "Ann"
		}
		return d
	}
	time.Sleep(1500 * time.Millisecond)
	opened := time.Now().UnixMilli()
	emit("lot", lot("open", 1000, opened, 0))
	hello := emit("chat", map[string]any{"id": 0, "subject": "sub-ann", "name": "Ann", "text": "Is it <b>working</b>?", "at": time.Now().UnixMilli()})
	time.Sleep(1500 * time.Millisecond)
	spam := emit("chat", map[string]any{"id": 0, "subject": "sub-bob", "name": "Bob", "text": "BUY CHEAP STUFF", "at": time.Now().UnixMilli()})
	emit("chat.deleted", map[string]any{"id": spam.Seq, "by": "sub-seller"})
	emit("bid", map[string]any{"lot_id": "lamp1", "bid": map[string]any{"n": 1, "lot_id": "lamp1", "subject": "sub-ann", "name": "Ann",
		"amount": 4500, "accepted": true, "price": 4500, "leader": "sub-ann"}, "lot": lot("open", 4500, opened, 0)})
	time.Sleep(1500 * time.Millisecond)
	emit("lot", lot("sold", 4500, opened, time.Now().UnixMilli()))
	emit("chat", map[string]any{"id": 0, "subject": "sub-ann", "name": "Ann", "text": "Thanks, it is mine!", "at": time.Now().UnixMilli()})

	select {
	case <-pub.Done():
	case <-time.After(40 * time.Second):
		t.Fatal("publisher did not finish")
	}
	stop()
	rec := waitRecording(t, srv, "shop", catalog.StatusReady, 120*time.Second)

	// The API first: one chapter, the events at their times (names only).
	var chapters []struct {
		LotID      string   `json:"lot_id"`
		Title      string   `json:"title"`
		StartS     float64  `json:"start_s"`
		EndS       float64  `json:"end_s"`
		WonS       *float64 `json:"won_s"`
		Status     string   `json:"status"`
		Price      int64    `json:"price"`
		WinnerName string   `json:"winner_name"`
	}
	getShowJSON(t, srv.URL()+"/api/recordings/"+rec.ID+"/chapters", &chapters)
	if len(chapters) != 1 || chapters[0].LotID != "lamp1" || chapters[0].Status != "sold" || chapters[0].Price != 4500 ||
		chapters[0].WinnerName != "Ann" || chapters[0].WonS == nil || chapters[0].StartS < 1 || *chapters[0].WonS <= chapters[0].StartS ||
		*chapters[0].WonS > rec.Duration {
		t.Fatalf("chapters %+v (duration %.1f)", chapters, rec.Duration)
	}
	var events []struct {
		T    float64         `json:"t"`
		Seq  int64           `json:"seq"`
		Kind string          `json:"kind"`
		Data json.RawMessage `json:"data"`
	}
	getShowJSON(t, srv.URL()+"/api/recordings/"+rec.ID+"/events", &events)
	var helloT float64 = -1
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
		if e.Seq == hello.Seq {
			helloT = e.T
		}
		if e.Seq == spam.Seq || strings.Contains(string(e.Data), "sub-") {
			t.Fatalf("event %d: %s (deleted, or carries a subject)", e.Seq, e.Data)
		}
	}
	if strings.Join(kinds, ",") != "lot,chat,bid,lot,chat" || helloT < 1 || helloT > rec.Duration {
		t.Fatalf("events %v, the first message at %.3f s (duration %.1f)", kinds, helloT, rec.Duration)
	}

	br := browser(t)
	pl := tab(t, br)
	navigate(t, pl, srv.URL()+"/v/"+rec.ID)
	waitJS(t, pl, 20*time.Second, `window.relaycast.state === "ready" && window.relaycast.show.events === 5`, "the player and its show")
	waitJS(t, pl, 5*time.Second, `document.querySelectorAll("#chapters li").length === 1 && document.querySelectorAll("#chapter-marks .chapter-mark").length === 1`, "the chapter list and mark")
	item := evalJS[string](t, pl, `document.querySelector("#chapters li").textContent`)
	if !strings.Contains(item, fmt.Sprintf("Lot 1 · Vintage lamp · sold $45 to Ann at 0:%02d", int(*chapters[0].WonS))) {
		t.Errorf("chapter item %q", item)
	}
	if !evalJS[bool](t, pl, `(() => { const m = document.querySelector("#chapter-marks .chapter-mark"); const l = parseFloat(m.style.left); return l > 0 && l < 100 && m.getAttribute("aria-label").includes("Vintage lamp"); })()`) {
		t.Error("the seek-bar mark is not placed inside the bar with its label")
	}

	chat := `[...document.querySelectorAll("#show-chat li")].map((li) => li.textContent).join("\n")`
	// At 0 nothing has been said yet.
	if got := evalJS[string](t, pl, chat); got != "" {
		t.Errorf("the chat at 0:00 shows %q", got)
	}
	// Just before the first message: not there; then play on until it appears.
	seekJS := func(s float64) {
		t.Helper()
		if _, err := chromedp.Run(pl, chromedp.Evaluate[any](fmt.Sprintf(`(() => { const v = window.relaycast.video; v.pause(); v.currentTime = %f; })()`, s))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, pl, 10*time.Second, fmt.Sprintf(`!window.relaycast.video.seeking && Math.abs(window.relaycast.video.currentTime - %f) < 0.05`, s), "the seek")
	}
	seekJS(max(0, helloT-0.4))
	time.Sleep(300 * time.Millisecond) // a timeupdate would have shown it
	if got := evalJS[string](t, pl, chat); strings.Contains(got, "working") {
		t.Fatalf("the message shows %.1f s before its time: %q", 0.4, got)
	}
	if _, err := chromedp.Run(pl, chromedp.Evaluate[any](`window.relaycast.video.muted = true; void window.relaycast.video.play()`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pl, 10*time.Second, `document.getElementById("show-chat").textContent.includes("Is it <b>working</b>?")`, "the first message at its time")
	if at := evalJS[float64](t, pl, `window.relaycast.video.currentTime`); at < helloT {
		t.Errorf("the message appeared at %.3f s, before its time %.3f s", at, helloT)
	}
	if n := evalJS[int](t, pl, `document.querySelectorAll("#show-chat b").length`); n != 0 {
		t.Error("markup in a message was rendered as HTML")
	}
	// Play to the end: the bid, the sale and the last message; never the deleted one.
	seekJS(rec.Duration - 0.3)
	waitJS(t, pl, 10*time.Second, `document.getElementById("show-chat").textContent.includes("Thanks, it is mine!")`, "the last message")
	got := evalJS[string](t, pl, chat)
	for _, want := range []string{"Now selling: Vintage lamp, from $10", "Ann bid $45 on Vintage lamp", "Sold: Vintage lamp for $45 to Ann"} {
		if !strings.Contains(got, want) {
			t.Errorf("the chat at the end lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "CHEAP") {
		t.Errorf("the deleted message is shown:\n%s", got)
	}
	screenshots(t, pl, "player-show")

	// A click on the chapter seeks to the lot; a seek back to 0 empties the chat again.
	if err := chromedp.Do(pl, chromedp.Click(chromedp.CSS("#chapters li button"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pl, 10*time.Second, fmt.Sprintf(`Math.abs(window.relaycast.video.currentTime - %f) < 0.3`, chapters[0].StartS), "the chapter click to seek")
	seekJS(0)
	waitJS(t, pl, 5*time.Second, `document.querySelectorAll("#show-chat li").length === 0`, "the chat to rebuild at 0:00")
}

func getShowJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
