package loadtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/relaycast/relaycast/loadtest"
)

// A simulcast room at (small) load: the synthetic publisher sends three layers, the viewers ask
// for high, medium and low over WHEP (?quality=) and /ws (the watch message's quality), lean and
// full, and each receives the layer it asked for (classified by its bitrate; over /ws also the
// server's `layer` report).
func TestRunSimulcastQualityMix(t *testing.T) {
	tests := []struct {
		name      string
		signaling string
		kind      string
	}{
		{"lean whep", loadtest.SignalingWHEP, loadtest.ViewerLean},
		{"lean ws", loadtest.SignalingWS, loadtest.ViewerLean},
		{"full whep", loadtest.SignalingWHEP, loadtest.ViewerFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, tok := startServer(t)
			p := loadtest.Params{
				URL: srv.URL(), Room: "lt", Token: tok, Viewers: 6, Duration: 4 * time.Second, Ramp: 20,
				Warmup: 2 * time.Second, Signaling: tt.signaling, ViewerKind: tt.kind, ServerPID: os.Getpid(),
				Simulcast: true, Quality: "high:1,medium:1,low:1",
				Thresholds: loadtest.Thresholds{MaxLossPct: 5},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			rep, err := loadtest.Run(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Pass {
				t.Errorf("run failed its thresholds: %+v notes %v errors %v", rep.Checks, rep.Notes, rep.Synthetic.FirstErrors)
			}
			l := rep.Layers
			if l == nil {
				t.Fatal("no layer mix in the report")
			}
			t.Logf("layers: %s; by request %v; ws %v; generator %+v", l, l.ByRequest, l.WSReported, rep.Generator)
			for _, q := range []string{"high", "medium", "low"} {
				if l.Requested[q] != 2 || l.ByRequest[q+"→"+q] != 2 {
					t.Errorf("%s: requested %d, received as asked %d (want 2, 2)", q, l.Requested[q], l.ByRequest[q+"→"+q])
				}
				if tt.signaling == loadtest.SignalingWS && l.WSReported[q] != 2 {
					t.Errorf("%s: server reported it to %d viewers, want 2", q, l.WSReported[q])
				}
			}
			if !(l.ReceivedMbps["low"] < l.ReceivedMbps["medium"] && l.ReceivedMbps["medium"] < l.ReceivedMbps["high"]) {
				t.Errorf("received rates %v not ordered", l.ReceivedMbps)
			}
			if tt.kind == loadtest.ViewerLean && (rep.Generator == nil || !rep.Generator.GRO || rep.Generator.Reads == 0 || rep.Generator.Datagrams < rep.Generator.Reads) {
				t.Errorf("generator summary %+v", rep.Generator)
			}
		})
	}
}
