package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeLive is a unit seam only: a tiny /ws that speaks just enough of the live family for the
// client's own logic (ref correlation, seq tracking, close codes). The client's real test is
// the load harness against the real server (loadtest/live_test.go, docs/LIVE-LOAD.md).
type fakeLive struct {
	t        testing.TB
	features []string
	// script is called for every client message with a send function.
	script func(msg map[string]any, send func(string))
	mu     sync.Mutex
	conns  []*websocket.Conn
	sends  []func(string) // each conn's writer (its writes are serialized: gorilla allows one writer)
}

func (f *fakeLive) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	var wmu sync.Mutex
	send := func(s string) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.WriteMessage(websocket.TextMessage, []byte(s))
	}
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.sends = append(f.sends, send)
	f.mu.Unlock()
	feats, _ := json.Marshal(f.features)
	send(`{"type":"hello","version":1,"minor":"1.1","features":` + string(feats) + `}`)
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		f.script(m, send)
	}
}

func startFake(t testing.TB, f *fakeLive) string {
	t.Helper()
	f.t = t
	if f.features == nil {
		f.features = []string{"live"}
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestLiveNoFeature(t *testing.T) {
	url := startFake(t, &fakeLive{features: []string{}, script: func(map[string]any, func(string)) {}})
	_, err := DialLive(context.Background(), LiveParams{URL: url})
	if !errors.Is(err, ErrNoLive) {
		t.Fatalf("err = %v, want ErrNoLive", err)
	}
}

func TestLiveJoinEventsGapsDups(t *testing.T) {
	f := &fakeLive{script: func(m map[string]any, send func(string)) {
		if m["type"] != "join" {
			return
		}
		if m["room"] != "shop" || m["token"] != "tok" {
			send(`{"type":"error","code":"bad_request","message":"wrong join"}`)
			return
		}
		if after, _ := m["after"].(float64); after == 7 { // resume: two events, then the snapshot's seq 12 (a gap of 3)
			send(`{"type":"joined","room":"shop","seq":12,"events":[{"seq":8,"kind":"chat","at":1,"data":{}},{"seq":9,"kind":"chat","at":1,"data":{}}]}`)
			return
		}
		send(`{"type":"joined","room":"shop","seq":41,"server_time":1000,"you":{"subject":"s1","name":"Ann","grants":["bid"]},"lot":{"id":"L1","status":"open","price":100,"min_amount":110}}`)
		send(`{"type":"event","room":"shop","seq":42,"kind":"bid","at":1700000000000,"data":{"lot_id":"L1","lot":{"min_amount":120,"text":"x\"}"}}}`)
		send(`{"room":"shop","seq":43,"kind":"chat","at":1700000000001,"data":{"text":"hi"},"type":"event"}`) // fields in any order
		send(`{"type":"event","room":"shop","seq":43,"kind":"chat","at":1700000000001,"data":{"text":"hi"}}`) // duplicate
		send(`{"type":"event","room":"shop","seq":46,"kind":"lot","at":1700000000002,"data":{}}`)             // 44, 45 missing
		send(`{"type":"event","room":"shop","seq":47,"kind":"weird.kind","at":1700000000003,"data":[1,{"a":"]"}]}`)
	}}
	url := startFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := DialLive(ctx, LiveParams{URL: url, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j, err := s.Join(ctx, "shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if j.Seq != 41 || j.You.Name != "Ann" || j.Lot == nil || j.Lot.MinAmount != 110 {
		t.Fatalf("joined = %+v", j)
	}
	var got []LiveEvent
	for len(got) < 4 {
		select {
		case ev := <-s.Events():
			got = append(got, ev)
		case <-ctx.Done():
			t.Fatalf("events: got %d", len(got))
		}
	}
	want := []struct {
		seq  int64
		kind string
		at   int64
	}{{42, "bid", 1700000000000}, {43, "chat", 1700000000001}, {46, "lot", 1700000000002}, {47, "weird.kind", 1700000000003}}
	for i, w := range want {
		if got[i].Seq != w.seq || got[i].Kind != w.kind || got[i].At != w.at {
			t.Errorf("event %d = %d %q %d, want %+v", i, got[i].Seq, got[i].Kind, got[i].At, w)
		}
	}
	if v := string(fieldOf(fieldOf(got[0].Data, "lot"), "min_amount")); v != "120" {
		t.Errorf("bid data lot.min_amount = %q", v)
	}
	st := s.Stats()
	if st.LastSeq != 47 || st.Gaps != 2 || st.Dups != 1 || st.Events != 4 {
		t.Errorf("stats = %+v, want last 47, gaps 2, dups 1, events 4", st)
	}

	// A resume on a new socket: the events after 7, then a gap to the snapshot's seq.
	s2, err := DialLive(ctx, LiveParams{URL: url, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Join(ctx, "shop", 7); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		<-s2.Events()
	}
	if st := s2.Stats(); st.LastSeq != 12 || st.Gaps != 3 || st.Events != 2 {
		t.Errorf("resume stats = %+v, want last 12, gaps 3, events 2", st)
	}

	// A refused join is the server's error.
	s3, err := DialLive(ctx, LiveParams{URL: url, Token: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	var le *LiveError
	if _, err := s3.Join(ctx, "shop", 0); !errors.As(err, &le) || le.Code != "bad_request" {
		t.Fatalf("join with a wrong token: %v", err)
	}
}

func TestLiveBidRefs(t *testing.T) {
	// Answers arrive out of order: each goes to the bid that sent its ref.
	var mu sync.Mutex
	var held []map[string]any
	left := make(chan struct{}, 1)
	f := &fakeLive{}
	f.script = func(m map[string]any, send func(string)) {
		switch m["type"] {
		case "bid":
			mu.Lock()
			held = append(held, m)
			if len(held) < 3 {
				mu.Unlock()
				return
			}
			for i := len(held) - 1; i >= 0; i-- {
				b := held[i]
				ref := b["ref"].(string)
				amount := int64(b["amount"].(float64))
				switch amount {
				case 100:
					send(`{"type":"bid_result","ref":"` + ref + `","accepted":true,"lot":{"id":"L1","price":100,"min_amount":110},"bid":{"n":1,"amount":100,"accepted":true,"price":100}}`)
				case 50:
					send(`{"type":"bid_result","ref":"` + ref + `","accepted":false,"code":"too_low","min_amount":110,"lot":{"id":"L1"},"bid":{"n":2,"amount":50}}`)
				default:
					send(`{"type":"error","ref":"` + ref + `","code":"lot_closed","message":"the lot has ended","min_amount":0}`)
				}
			}
			held = nil
			mu.Unlock()
		case "lot_create":
			lot := m["lot"].(map[string]any)
			send(`{"type":"lot_result","ref":"` + m["ref"].(string) + `","lot":{"id":"L9","title":"` + lot["title"].(string) + `","status":"queued"}}`)
		case "lot_start":
			send(`{"type":"error","ref":"` + m["ref"].(string) + `","code":"conflict","message":"another lot is open"}`)
		case "chat":
			send(`{"type":"error","ref":"` + m["ref"].(string) + `","code":"rate_limited","message":"slow down"}`)
		case "leave":
			left <- struct{}{}
		}
	}
	url := startFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs := make(chan *LiveError, 1)
	s, err := DialLive(ctx, LiveParams{URL: url, OnEvent: func(LiveEvent) {}, OnError: func(e *LiveError) { errs <- e }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type out struct {
		amount int64
		res    BidResult
		err    error
	}
	results := make(chan out, 3)
	for _, a := range []int64{100, 50, 7} {
		go func(a int64) {
			r, err := s.Bid(ctx, "L1", a, 0)
			results <- out{a, r, err}
		}(a)
		time.Sleep(20 * time.Millisecond) // the fake holds them in this order
	}
	for i := 0; i < 3; i++ {
		o := <-results
		if o.err != nil {
			t.Fatalf("bid %d: %v", o.amount, o.err)
		}
		switch o.amount {
		case 100:
			if !o.res.Accepted || o.res.Bid.N != 1 || o.res.Lot.MinAmount != 110 {
				t.Errorf("bid 100: %+v", o.res)
			}
		case 50:
			if o.res.Accepted || o.res.Code != "too_low" || o.res.MinAmount != 110 {
				t.Errorf("bid 50: %+v", o.res)
			}
		case 7:
			if o.res.Accepted || o.res.Code != "lot_closed" {
				t.Errorf("bid 7: %+v", o.res)
			}
		}
		if o.res.RTT <= 0 {
			t.Errorf("bid %d: RTT %v", o.amount, o.res.RTT)
		}
	}
	lot, err := s.LotCreate(ctx, LotInput{Title: "Vase", StartPrice: 100, DurationS: 60})
	if err != nil || lot.ID != "L9" || lot.Title != "Vase" || lot.Status != "queued" {
		t.Fatalf("lot_create: %+v %v", lot, err)
	}
	var le *LiveError
	if _, err := s.LotStart(ctx, "L9"); !errors.As(err, &le) || le.Code != "conflict" {
		t.Fatalf("lot_start: %v", err)
	}
	ref, err := s.Chat("hello")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-errs:
		if e.Code != "rate_limited" || e.Ref != ref {
			t.Errorf("chat error = %+v, want rate_limited for %s", e, ref)
		}
	case <-ctx.Done():
		t.Fatal("no chat error")
	}
	if err := s.Leave(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-left:
	case <-ctx.Done():
		t.Fatal("the fake never saw a leave")
	}
}

func TestLivePauseAndClose(t *testing.T) {
	f := &fakeLive{}
	f.script = func(m map[string]any, send func(string)) {
		if m["type"] == "join" {
			send(`{"type":"joined","room":"r","seq":0}`)
			send(`{"type":"event","room":"r","seq":1,"kind":"chat","at":1,"data":{}}`)
		}
	}
	url := startFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	n := 0
	s, err := DialLive(ctx, LiveParams{URL: url, ReadBuffer: 4096, OnEvent: func(LiveEvent) { mu.Lock(); n++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Join(ctx, "r", 0); err != nil {
		t.Fatal(err)
	}
	for s.Stats().Events < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Pause()
	f.mu.Lock()
	c, send := f.conns[0], f.sends[0]
	f.mu.Unlock()
	// One message may still be read (the reader was already waiting for it); the rest wait.
	for i := 2; i <= 5; i++ { // through the fake's writer: its script may still be writing
		send(`{"type":"event","room":"r","seq":` + string(rune('0'+i)) + `,"kind":"chat","at":1,"data":{}}`)
	}
	time.Sleep(100 * time.Millisecond)
	if ev := s.Stats().Events; ev > 2 {
		t.Fatalf("paused socket read %d events", ev)
	}
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too slow"), time.Now().Add(time.Second))
	s.Resume()
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("socket did not end")
	}
	st := s.Stats()
	if st.Events != 5 || st.Gaps != 0 || !st.Closed || st.CloseCode != websocket.ClosePolicyViolation || st.CloseReason != "too slow" {
		t.Fatalf("stats = %+v", st)
	}
}

func TestLiveEventNoAllocs(t *testing.T) {
	s := &LiveSession{p: LiveParams{OnEvent: func(LiveEvent) {}}, started: true}
	msg := []byte(`{"type":"event","room":"shop","seq":1,"kind":"bid","at":1700000000000,"data":{"lot_id":"L1","bid":{"n":3},"lot":{"price":120,"min_amount":130}}}`)
	seq := int64(0)
	now := time.Now()
	allocs := testing.AllocsPerRun(200, func() {
		seq++
		s.last = seq - 1
		s.handle(msg, now)
	})
	if allocs != 0 {
		t.Fatalf("an event costs %v allocations, want 0", allocs)
	}
}

func TestEachField(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		keys string
	}{
		{`{}`, true, ""},
		{` { "a" : 1 , "b":"x\"y", "c":{"d":[1,2,"]"]},"e":null,"f":-2.5e3 } `, true, "abcef"},
		{`{"a":1`, false, "a"},
		{`[1]`, false, ""},
		{`{"a"}`, false, ""},
	} {
		keys := ""
		ok := eachField([]byte(tc.in), func(k, v []byte) bool { keys += string(k); return true })
		if ok != tc.ok || keys != tc.keys {
			t.Errorf("%s: ok %v keys %q, want %v %q", tc.in, ok, keys, tc.ok, tc.keys)
		}
	}
	if v := rawInt([]byte("-1234")); v != -1234 {
		t.Errorf("rawInt = %d", v)
	}
	if v := rawInt([]byte(`"12"`)); v != 0 {
		t.Errorf("rawInt of a string = %d", v)
	}
}

// BenchmarkLiveRead is the generator's cost per event read: one socket, a fake server writing
// pre-encoded `bid` events (~700 bytes, the size of a real one with its lot) as fast as it can.
func BenchmarkLiveRead(b *testing.B) {
	ev := `{"type":"event","room":"live","seq":%d,"kind":"bid","at":1765000000000,"data":{"lot_id":"01JEXAMPLE","bid":{"n":12,"lot_id":"01JEXAMPLE","subject":"","name":"Bidder 7","amount":12500,"at":1765000000000,"accepted":true,"proxy":false,"price":12500,"leader":null},"lot":{"id":"01JEXAMPLE","room":"live","title":"loadtest lot","description":"relaycast loadtest","image_url":"","start_price":100,"increments":[{"up_to":3000,"step":100},{"up_to":5000,"step":200},{"up_to":10000,"step":500},{"up_to":0,"step":1000}],"duration_s":120,"mode":"standard","extend_window_s":10,"extend_to_s":10,"max_extensions":0,"status":"open","price":12500,"min_amount":13500,"leader":null,"leader_name":"Bidder 7","bid_count":12,"ends_at":1765000100000,"server_time":1765000000000,"winner":null,"winner_name":"","extensions":0,"created_at":1765000000000,"started_at":1765000000000,"ended_at":0}}}`
	f := &fakeLive{}
	f.script = func(m map[string]any, send func(string)) {
		if m["type"] != "join" {
			return
		}
		send(`{"type":"joined","room":"live","seq":0}`)
		for i := 1; i <= b.N; i++ {
			send(fmt.Sprintf(ev, i))
		}
	}
	url := startFake(b, f)
	done := make(chan struct{})
	var n int
	s, err := DialLive(context.Background(), LiveParams{URL: url, OnEvent: func(LiveEvent) {
		if n++; n == b.N {
			close(done)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := s.Join(context.Background(), "live", 0); err != nil {
		b.Fatal(err)
	}
	<-done
	b.StopTimer()
	if st := s.Stats(); st.Gaps != 0 || st.Dups != 0 {
		b.Fatalf("stats %+v", st)
	}
}
