package loadtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/loadtest"
)

// TestRunHLSViewers: --hls-viewers against a real server with the synthetic publisher (VP8 +
// Opus: the room's one ffmpeg makes the H.264 + AAC): every HLS viewer reads parts in a loop
// with blocking reloads, and the report has their figures.
func TestRunHLSViewers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ffmpeg and a live HLS room")
	}
	srv := testserver.Start(t, nil)
	tok := testserver.Token(t, srv, "hls", auth.GrantPublish)
	p := loadtest.Params{
		URL: srv.URL(), Room: "hls", Token: tok, HLSViewers: 20, Duration: 4 * time.Second, Ramp: 50,
		Warmup: 6 * time.Second, ServerPID: os.Getpid(),
	}
	rep, err := loadtest.Run(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	h := rep.HLS
	if h == nil || h.Target != 20 || h.Active != 20 {
		t.Fatalf("HLS viewers: %+v", h)
	}
	if h.Parts < 20*4 || h.Playlists < 20*4 || h.PartWait.Count == 0 {
		t.Errorf("in a 4 s hold: %d parts, %d reloads (want ≥ 80 each): %+v", h.Parts, h.Playlists, h)
	}
	if h.PartWait.P95 > 1500 {
		t.Errorf("hinted part wait p95 %.0f ms (a part is a third of a second)", h.PartWait.P95)
	}
	t.Logf("20 HLS viewers: %d parts, part wait p50 %.0f / p95 %.0f ms, reload p95 %.0f ms, %.2f Mb/s each, errors %d %v",
		h.Parts, h.PartWait.P50, h.PartWait.P95, h.Reload.P95, h.MbpsPerViewer, h.Errors, h.FirstErrors)
}
