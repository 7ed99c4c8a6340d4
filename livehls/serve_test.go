package livehls

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// async runs a request in the background.
func async(h http.Handler, url string) <-chan *httptest.ResponseRecorder {
	ch := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		r := httptest.NewRequest(http.MethodGet, url, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		ch <- w
	}()
	return ch
}

func waitHeld(t *testing.T, srv *Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().BlockingHeld != n {
		if time.Now().After(deadline) {
			t.Fatalf("held %d, want %d", srv.Stats().BlockingHeld, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBlockingReload(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, true, "v")
	f.steps(70)
	st.mu.Lock()
	v := st.variants[0]
	msn, idx, _, _ := v.last()
	next := v.nextPart
	st.mu.Unlock()

	// Past: answered at once.
	if w := get(t, srv, "/live/r/v/index.m3u8?_HLS_msn=0&_HLS_part=0"); w.Code != 200 ||
		w.Header().Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("past: %d %v", w.Code, w.Header())
	}
	// The next part: held until it exists, then the playlist lists it.
	url := fmt.Sprintf("/live/r/v/index.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, idx+1)
	ch := async(srv, url)
	hint := async(srv, fmt.Sprintf("/live/r/v/%s/p%d.m4s", st.ID(), next))
	waitHeld(t, srv, 2)
	select {
	case w := <-ch:
		t.Fatalf("answered before the part: %d", w.Code)
	case <-time.After(50 * time.Millisecond):
	}
	for i := 0; i < 20 && srv.Stats().BlockingHeld > 0; i++ {
		f.step()
		time.Sleep(2 * time.Millisecond)
	}
	w := <-ch
	m := parseMedia(t, w.Body.Bytes())
	found := false
	for _, p := range m.Parts {
		if strings.HasSuffix(p.URI, fmt.Sprintf("/p%d.m4s", next)) {
			found = true
		}
	}
	for _, sg := range m.Segments {
		for _, p := range sg.Parts {
			if strings.HasSuffix(p.URI, fmt.Sprintf("/p%d.m4s", next)) {
				found = true
			}
		}
	}
	if w.Code != 200 || !found {
		t.Fatalf("%d, part p%d not in\n%s", w.Code, next, w.Body.String())
	}
	hw := <-hint
	if hw.Code != 200 || hw.Header().Get("Content-Type") != "video/mp4" ||
		hw.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || hw.Body.Len() == 0 {
		t.Fatalf("hinted part: %d %v", hw.Code, hw.Header())
	}

	// Too far ahead: 400 at once.
	for _, q := range []string{
		fmt.Sprintf("_HLS_msn=%d", msn+5),
		fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn+1, 9),
		"_HLS_msn=abc", "_HLS_msn=-1", "_HLS_part=1", "_HLS_skip=maybe",
		"_HLS_msn=99999999999999999999",
	} {
		w := get(t, srv, "/live/r/v/index.m3u8?"+q)
		if w.Code != 400 || !strings.Contains(w.Body.String(), `"error"`) || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s", q, w.Code, w.Body.String())
		}
	}
	// A part far in the future is not held.
	if w := get(t, srv, fmt.Sprintf("/live/r/v/%s/p%d.m4s", st.ID(), next+50)); w.Code != 404 {
		t.Fatalf("future part: %d", w.Code)
	}
	// End answers every waiter: with ENDLIST.
	ch = async(srv, fmt.Sprintf("/live/r/v/index.m3u8?_HLS_msn=%d", msn+2))
	waitHeld(t, srv, 1)
	st.End()
	w = <-ch
	if w.Code != 200 || !parseMedia(t, w.Body.Bytes()).Endlist {
		t.Fatalf("after End: %d\n%s", w.Code, w.Body.String())
	}
	if err := f.vs[0].WriteH264(time.Hour, time.Hour, testAUs[0]); err == nil {
		t.Fatal("write after End")
	}
}

// A blocking request not satisfied in three target durations is answered 503.
func TestBlockingTimeout(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{SegmentTarget: time.Second})
	f := newFeeder(t, st, false, "v")
	f.steps(40)
	start := time.Now()
	w := get(t, srv, "/live/r/v/index.m3u8?_HLS_msn=2")
	el := time.Since(start)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || el < 3*time.Second-100*time.Millisecond || el > 6*time.Second {
		t.Fatalf("%d after %v", w.Code, el)
	}
	if srv.Stats().BlockingHeld != 0 {
		t.Fatal("slot not released")
	}
}

func TestBlockingCaps(t *testing.T) {
	srv := NewServer(ServerConfig{MaxBlockingPerClient: 3, MaxBlocking: 5})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, false, "v")
	f.steps(70)
	st.mu.Lock()
	msn, _, _, _ := st.variants[0].last()
	st.mu.Unlock()
	url := fmt.Sprintf("/live/r/v/index.m3u8?_HLS_msn=%d", msn+1)
	req := func(addr string) <-chan *httptest.ResponseRecorder {
		ch := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			r := httptest.NewRequest(http.MethodGet, url, nil)
			r.RemoteAddr = addr
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			ch <- w
		}()
		return ch
	}
	var held []<-chan *httptest.ResponseRecorder
	for i := 0; i < 3; i++ {
		held = append(held, req(fmt.Sprintf("10.0.0.1:%d", 1000+i)))
	}
	waitHeld(t, srv, 3)
	w := <-req("10.0.0.1:2000")
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "error") {
		t.Fatalf("per client: %d", w.Code)
	}
	held = append(held, req("[::1]:1"), req("[::1]:2"))
	waitHeld(t, srv, 5)
	if w := <-req("10.0.0.9:1"); w.Code != 429 {
		t.Fatalf("total: %d", w.Code)
	}
	if srv.Stats().Limited != 2 {
		t.Fatalf("stats %+v", srv.Stats())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.Collector())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 4 {
		t.Fatalf("gather: %v %d", err, len(mfs))
	}
	for _, mf := range mfs {
		if mf.GetName() == "relaycast_llhls_blocking_held" && mf.GetMetric()[0].GetGauge().GetValue() != 5 {
			t.Fatalf("blocking_held %v", mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	f.steps(130)
	for _, ch := range held {
		if w := <-ch; w.Code != 200 {
			t.Fatalf("held request: %d", w.Code)
		}
	}
	waitHeld(t, srv, 0)
}

func TestPathsAndHeaders(t *testing.T) {
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, true, "v")
	f.steps(70)
	id := st.ID()
	for _, p := range []string{
		"/live/r/../r/index.m3u8", "/live/r/v/../../x", "/live/r/v/" + id + "/../index.m3u8",
		"/live/r/v/" + id + "/p1.m4s/x", "/live/r/v/" + id + "/p.m4s", "/live/r/v/" + id + "/px.m4s",
		"/live/r/v/" + id + "/init1.mp4.bak", "/live/r/v/" + id + "/%2e%2e", "/live/r//index.m3u8",
		"/live/r/v/index.m3u8/", "/live/.r/index.m3u8", "/live/r/v/deadbeef/p1.m4s", "/live/r/x/index.m3u8",
		"/live/r/v/" + id + "/s99.m4s", "/live/" + strings.Repeat("a", 65) + "/index.m3u8", "/live/",
		"/other/r/index.m3u8",
	} {
		w := get(t, srv, p)
		if w.Code != 404 || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s", p, w.Code, w.Body.String())
		}
	}
	if w := get(t, srv, "/live/nosuch/index.m3u8"); w.Code != 404 || !strings.Contains(w.Body.String(), "error") {
		t.Fatalf("unknown room: %d", w.Code)
	}
	srv2 := NewServer(ServerConfig{Fallback: fallback})
	defer srv2.Close()
	if w := get(t, srv2, "/live/nosuch/index.m3u8"); w.Code != 299 {
		t.Fatalf("fallback: %d", w.Code)
	}
	// Content types, caching, CORS, HEAD.
	cases := []struct{ url, ctype, cache string }{
		{"/live/r/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=1"},
		{"/live/r/v/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=0"},
		{"/live/r/v/" + id + "/init1.mp4", "video/mp4", "public, max-age=31536000, immutable"},
		{"/live/r/v/" + id + "/p0.m4s", "video/mp4", "public, max-age=31536000, immutable"},
		{"/live/r/v/" + id + "/s0.m4s", "video/mp4", "public, max-age=31536000, immutable"},
	}
	for _, c := range cases {
		w := get(t, srv, c.url)
		if w.Code != 200 || w.Header().Get("Content-Type") != c.ctype || w.Header().Get("Cache-Control") != c.cache ||
			w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Content-Length") != fmt.Sprint(w.Body.Len()) {
			t.Errorf("%s: %d %v", c.url, w.Code, w.Header())
		}
		r := httptest.NewRequest(http.MethodHead, c.url, nil)
		hw := httptest.NewRecorder()
		srv.ServeHTTP(hw, r)
		if hw.Code != 200 || hw.Body.Len() != 0 || hw.Header().Get("Content-Length") != fmt.Sprint(w.Body.Len()) {
			t.Errorf("HEAD %s: %d %d", c.url, hw.Code, hw.Body.Len())
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/live/r/index.m3u8", nil)
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != 405 {
		t.Fatalf("POST: %d", w.Code)
	}
	// The segment is its parts back to back.
	seg := get(t, srv, "/live/r/v/"+id+"/s0.m4s").Body.Bytes()
	var cat []byte
	for i := 0; len(cat) < len(seg); i++ {
		w := get(t, srv, fmt.Sprintf("/live/r/v/%s/p%d.m4s", id, i))
		if w.Code != 200 {
			break
		}
		cat = append(cat, w.Body.Bytes()...)
	}
	if string(cat) != string(seg) {
		t.Fatalf("segment %d bytes, parts %d", len(seg), len(cat))
	}
}

func TestLingerReopen(t *testing.T) {
	srv := NewServer(ServerConfig{Linger: 150 * time.Millisecond})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, false, "v")
	f.steps(70)
	srv.Ended("r", st)
	m := parseMedia(t, fetchAll(t, srv, "/live/r/v/index.m3u8"))
	if !m.Endlist {
		t.Fatal("no ENDLIST after Ended")
	}
	// Back within Linger: the same stream, the playlist continues after a discontinuity.
	st2 := srv.Open("r", Config{})
	if st2 != st {
		t.Fatal("Open did not return the lingering stream")
	}
	st2.Discontinuity()
	f.steps(130)
	time.Sleep(300 * time.Millisecond)
	if _, ok := srv.Stream("r"); !ok {
		t.Fatal("reopened stream removed by the old linger timer")
	}
	body := fetchAll(t, srv, "/live/r/v/index.m3u8")
	m = parseMedia(t, body)
	if m.Endlist || m.MediaSequence != 0 || len(m.Segments) < 3 {
		t.Fatalf("continued playlist\n%s", body)
	}
	discs := 0
	for _, sg := range m.Segments {
		if sg.Discontinuity {
			discs++
		}
	}
	if discs != 1 {
		t.Fatalf("%d discontinuities\n%s", discs, body)
	}
	// Ended and not reopened: gone after Linger, blocked requests answered.
	ch := async(srv, fmt.Sprintf("/live/r/v/index.m3u8?_HLS_msn=%d", m.MediaSequence+len(m.Segments)+1))
	waitHeld(t, srv, 1)
	srv.Ended("r", st)
	if w := <-ch; w.Code != 200 {
		t.Fatalf("waiter after Ended: %d", w.Code)
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok := srv.Stream("r"); ok {
		t.Fatal("not removed after Linger")
	}
	if w := get(t, srv, "/live/r/index.m3u8"); w.Code != 404 {
		t.Fatalf("removed room: %d", w.Code)
	}
	st3 := srv.Open("r", Config{})
	if st3 == st || st3.ID() == st.ID() {
		t.Fatal("a new stream reuses the old instance id")
	}
}

func TestCloseAnswersWaiters(t *testing.T) {
	srv := NewServer(ServerConfig{})
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, false, "v")
	f.steps(70)
	ch1 := async(srv, "/live/r/v/index.m3u8?_HLS_msn=3")
	ch2 := async(srv, fmt.Sprintf("/live/r/v/%s/p%d.m4s", st.ID(), st.variants[0].nextPart))
	waitHeld(t, srv, 2)
	_ = srv.Close()
	for _, ch := range []<-chan *httptest.ResponseRecorder{ch1, ch2} {
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
			t.Fatal("waiter not answered by Close")
		}
	}
	waitHeld(t, srv, 0)
}
