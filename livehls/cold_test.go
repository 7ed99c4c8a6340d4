package livehls

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestColdStreamWaits: a stream that just started (a room's live HLS started on demand) holds
// the multivariant playlist and a request for a rendition it does not have yet until its first
// segment, then answers them; with no segment in three target durations, 503 with Retry-After.
// Remove takes the stream away at once (no linger): the room's next stream is a new one.
func TestColdStreamWaits(t *testing.T) {
	m := needMedia(t)
	srv := NewServer(ServerConfig{})
	st := srv.Open("shop", Config{})
	type answer struct {
		code int
		body string
	}
	mv, media := make(chan answer, 1), make(chan answer, 1)
	go func() { c, _, b := get(t, srv, "/live/shop/index.m3u8"); mv <- answer{c, string(b)} }()
	go func() { c, _, b := get(t, srv, "/live/shop/src/index.m3u8"); media <- answer{c, string(b)} }()
	select {
	case a := <-mv:
		t.Fatalf("the multivariant answered before any media: %d %s", a.code, a.body)
	case a := <-media:
		t.Fatalf("the media playlist answered before the rendition existed: %d %s", a.code, a.body)
	case <-time.After(300 * time.Millisecond):
	}
	f := &feeder{m: m, st: st}
	v, err := st.AddVariant(VariantParams{Name: "src", Bandwidth: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	f.vs = []*Variant{v}
	if err := st.SetAudio(AudioParams{SampleRate: 48000, Channels: 2, Config: m.asc}); err != nil {
		t.Fatal(err)
	}
	f.until(t, 900*time.Millisecond) // parts, no complete segment yet (the first closes at the keyframe at 1 s)
	select {
	case a := <-mv:
		t.Fatalf("the multivariant answered before the first segment: %d %s", a.code, a.body)
	case <-time.After(200 * time.Millisecond):
	}
	f.until(t, 1500*time.Millisecond)
	for name, ch := range map[string]chan answer{"multivariant": mv, "media playlist": media} {
		select {
		case a := <-ch:
			if a.code != http.StatusOK || !strings.HasPrefix(a.body, "#EXTM3U") {
				t.Fatalf("%s: %d %s", name, a.code, a.body)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("the %s was not answered once a segment was complete", name)
		}
	}
	_, _, body := get(t, srv, "/live/shop/src/index.m3u8")
	if pl := mediaPlaylist(t, body); len(pl.Segments) == 0 || pl.Segments[0].Duration > 1100*time.Millisecond {
		t.Fatalf("the first segment is not the short one (3 parts, to the keyframe at 1 s):\n%s", body)
	}
	srv.Remove("shop", st)
	if _, ok := srv.Stream("shop"); ok {
		t.Fatal("the removed stream is still served")
	}
	if again := srv.Open("shop", Config{}); again == st || again.id == st.id {
		t.Fatal("the room's next stream is the removed one")
	}

	// Nothing comes: 503 with Retry-After after three target durations (3 × 1 s here).
	srv.Open("quiet", Config{SegmentTarget: 300 * time.Millisecond, PartTarget: 100 * time.Millisecond})
	t0 := time.Now()
	code, h, body := get(t, srv, "/live/quiet/index.m3u8")
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("a stream without media: %d %v %s", code, h, body)
	}
	if d := time.Since(t0); d < 2500*time.Millisecond || d > 8*time.Second {
		t.Fatalf("answered after %v, want three target durations (3 s)", d)
	}
}
