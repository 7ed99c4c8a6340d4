package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/relaycast/relaycast/livehls"
)

// hlsOrigin is a livehls.Server fed in real time with the packager's test clip (30 fps, 1 s
// GOP), behind an HTTP server: what the HLS viewers load.
func hlsOrigin(t *testing.T, room string) (*httptest.Server, func()) {
	t.Helper()
	raw, err := os.ReadFile("../livehls/testdata/video.h264")
	if err != nil {
		t.Fatal(err)
	}
	var ab h264.AnnexB
	if err := ab.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	var cur [][]byte
	slice := false
	for _, n := range ab {
		typ := h264.NALUType(n[0] & 0x1f)
		isSlice := typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR
		if slice && (!isSlice || n[1]&0x80 != 0) {
			aus, cur, slice = append(aus, cur), nil, false
		}
		cur = append(cur, n)
		slice = slice || isSlice
	}
	aus = append(aus, cur)

	srv := livehls.NewServer(livehls.ServerConfig{})
	st := srv.Open(room, livehls.Config{})
	var vs []*livehls.Variant
	for _, name := range []string{"high", "low"} {
		v, err := st.AddVariant(livehls.VariantParams{Name: name, Bandwidth: map[string]int{"high": 900000, "low": 300000}[name]})
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(time.Second / 30)
		defer tk.Stop()
		start := time.Now()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			pts := time.Since(start)
			for _, v := range vs {
				_ = v.WriteH264(pts, pts, aus[i%len(aus)])
			}
		}
	}()
	mux := http.NewServeMux()
	mux.Handle("/live/", srv)
	hs := httptest.NewServer(mux)
	return hs, func() {
		cancel()
		wg.Wait()
		hs.Close()
		_ = srv.Close()
	}
}

func TestHLSViewersInProcess(t *testing.T) {
	hs, stop := hlsOrigin(t, "show")
	defer stop()
	rep, err := Run(context.Background(), Params{
		URL: hs.URL, Room: "show", HLSViewers: 20, Ramp: 200, Duration: 3 * time.Second,
		Warmup: 2500 * time.Millisecond, Interval: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := rep.HLS
	if h == nil {
		t.Fatal("no HLS summary")
	}
	t.Logf("hls: %+v", *h)
	if h.Playing != 20 || h.Errors != 0 || h.Variant != "high" {
		t.Fatalf("playing %d errors %d (%v %s) variant %s", h.Playing, h.Errors, h.Status, h.FirstErr, h.Variant)
	}
	// Each viewer follows the live edge part by part: ~3 parts a second, by blocking reloads.
	if h.Parts < 20*6 || h.PlaylistMs.Count < 20*6 || h.ArrivalMs.Count == 0 || h.PartMs.P50 <= 0 {
		t.Fatalf("parts %d playlists %d arrivals %d", h.Parts, h.PlaylistMs.Count, h.ArrivalMs.Count)
	}
	if rep.Params.HLSViewers != 20 {
		t.Fatal("params not reported")
	}
}

func TestParseLL(t *testing.T) {
	pl := parseLL([]byte(`#EXTM3U
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=12.0
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXT-X-MAP:URI="id/init1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T07:00:00.000Z
#EXT-X-PART:DURATION=0.5,URI="id/p1.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="id/p2.m4s"
#EXTINF:1.0,
id/s13.m4s
#EXT-X-PART:DURATION=0.25,URI="id/p3.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="id/p4.m4s"
`))
	if msn, part := pl.next(); msn != 14 || part != 1 || !pl.canSkip || pl.hint != "id/p4.m4s" || pl.mapURI != "id/init1.mp4" {
		t.Fatalf("%+v", pl)
	}
	want := time.Date(2026, 12, 7, 7, 0, 1, 250e6, time.UTC)
	if len(pl.parts) != 3 || !pl.parts[2].end.Equal(want) || !pl.parts[1].end.Equal(want.Add(-250*time.Millisecond)) {
		t.Fatalf("parts %+v", pl.parts)
	}
	if v := pickVariant([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"a,b\"\nlo/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=9\nhi/index.m3u8\n"), ""); v != "hi/index.m3u8" {
		t.Fatal(v)
	}
}
