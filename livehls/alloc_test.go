package livehls

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// reusedWriter is a ResponseWriter a viewer's connection would reuse: its header map is
// cleared, not reallocated, between requests.
type reusedWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *reusedWriter) Header() http.Header         { return w.h }
func (w *reusedWriter) WriteHeader(code int)        { w.code = code }
func (w *reusedWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

func allocServer(t testing.TB) (*Server, *Stream) {
	srv := NewServer(ServerConfig{})
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, true, "hi", "lo")
	f.steps(200)
	return srv, st
}

// The request path allocates nothing per viewer for playlists (plain, delta, blocking that is
// already satisfied), parts and the multivariant playlist: they serve bytes rendered once per
// change.
func TestRequestPathAllocations(t *testing.T) {
	srv, st := allocServer(t)
	defer srv.Close()
	for _, url := range []string{
		"/live/r/index.m3u8",
		"/live/r/hi/index.m3u8",
		"/live/r/hi/index.m3u8?_HLS_skip=YES",
		"/live/r/hi/index.m3u8?_HLS_msn=1&_HLS_part=2&_HLS_skip=YES",
		"/live/r/hi/index.m3u8?_HLS_msn=2",
		fmt.Sprintf("/live/r/hi/%s/p3.m4s", st.ID()),
		fmt.Sprintf("/live/r/hi/%s/s1.m4s", st.ID()),
		fmt.Sprintf("/live/r/hi/%s/init1.mp4", st.ID()),
	} {
		r := httptest.NewRequest(http.MethodGet, url, nil)
		w := &reusedWriter{h: http.Header{}}
		srv.ServeHTTP(w, r) // renders the playlist once
		if w.code != 200 || w.n == 0 {
			t.Fatalf("%s: %d", url, w.code)
		}
		allocs := testing.AllocsPerRun(200, func() {
			clear(w.h)
			srv.ServeHTTP(w, r)
		})
		t.Logf("%s: %.1f allocs/request", url, allocs)
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per request", url, allocs)
		}
	}
}

func BenchmarkPlaylistRequest(b *testing.B) {
	srv, _ := allocServer(b)
	defer srv.Close()
	r := httptest.NewRequest(http.MethodGet, "/live/r/hi/index.m3u8?_HLS_msn=2&_HLS_part=0", nil)
	w := &reusedWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		srv.ServeHTTP(w, r)
	}
}
