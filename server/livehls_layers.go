package server

import (
	"errors"

	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/sfu"
)

// The tee is an sfu.LayerSink when one of its sinks is (the live HLS asks for every H.264
// simulcast layer): it wants the layers when one of them does, and only LayerSinks get them
// (the recorder records the best layer as before; a LayerSink that declined drops them).

// WantLayers implements sfu.LayerSink: every LayerSink of the tee is asked.
func (t teeSink) WantLayers(l []sfu.LayerInfo) bool {
	want := false
	for _, s := range []sfu.Sink{t.a, t.b} {
		if ls, ok := s.(sfu.LayerSink); ok && ls.WantLayers(l) {
			want = true
		}
	}
	return want
}

// WriteLayerRTP implements sfu.LayerSink.
func (t teeSink) WriteLayerRTP(l sfu.LayerInfo, pkt *rtp.Packet) error {
	var errs []error
	for _, s := range []sfu.Sink{t.a, t.b} {
		if ls, ok := s.(sfu.LayerSink); ok {
			errs = append(errs, ls.WriteLayerRTP(l, pkt))
		}
	}
	return errors.Join(errs...)
}

var _ sfu.LayerSink = teeSink{}
