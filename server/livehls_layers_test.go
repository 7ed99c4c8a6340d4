package server

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/sfu"
)

// recordingSink stands for the recorder: a plain sink.
type recordingSink struct{ n int }

func (r *recordingSink) WriteRTP(sfu.TrackInfo, *rtp.Packet) error { r.n++; return nil }
func (r *recordingSink) Close() error                              { return nil }

// layeredSink stands for the live HLS: a LayerSink.
type layeredSink struct {
	recordingSink
	want   bool
	layers int
}

func (l *layeredSink) WantLayers([]sfu.LayerInfo) bool { return l.want }
func (l *layeredSink) WriteLayerRTP(sfu.LayerInfo, *rtp.Packet) error {
	l.layers++
	return nil
}

// The tee of the recorder and the live HLS wants the simulcast layers when the live HLS does,
// and hands them to it alone: the recorder gets what it always got.
func TestTeeSinkLayers(t *testing.T) {
	for _, want := range []bool{true, false} {
		rec, hls := &recordingSink{}, &layeredSink{want: want}
		tee := teeSink{rec, hls}
		if got := tee.WantLayers([]sfu.LayerInfo{{}, {}}); got != want {
			t.Fatalf("WantLayers %v, the live HLS says %v", got, want)
		}
		_ = tee.WriteRTP(sfu.TrackInfo{}, &rtp.Packet{})
		_ = tee.WriteLayerRTP(sfu.LayerInfo{}, &rtp.Packet{})
		if rec.n != 1 || hls.n != 1 || hls.layers != 1 {
			t.Fatalf("recorder %d, live HLS %d + %d layer packets", rec.n, hls.n, hls.layers)
		}
	}
	if (teeSink{&recordingSink{}, &recordingSink{}}).WantLayers([]sfu.LayerInfo{{}, {}}) {
		t.Fatal("a tee of plain sinks wants layers")
	}
}
