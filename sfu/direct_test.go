package sfu_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// senderReports collects the sender reports a viewer's receivers get.
func senderReports(v *client.Viewer) <-chan *rtcp.SenderReport {
	out := make(chan *rtcp.SenderReport, 64)
	for _, r := range v.PC().GetReceivers() {
		go func(r *webrtc.RTPReceiver) {
			for {
				pkts, _, err := r.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						select {
						case out <- sr:
						default:
						}
					}
				}
			}
		}(r)
	}
	return out
}

// Viewers get their packets through the direct send path (the SFU's own SRTP encryption into
// the batching socket), without loss, and sender reports for both tracks with sensible content.
func TestDirectSendPath(t *testing.T) {
	s := newSFU(t)
	publish(t, s, "direct", client.PublisherParams{})
	v, err := watch(t, s, "direct")
	if err != nil {
		t.Fatal(err)
	}
	srs := senderReports(v)
	waitFor(t, 10*time.Second, func() bool {
		st := v.Stats()
		return st.VideoPackets > 200 && st.AudioPackets > 50 && st.FirstKeyframe > 0
	})
	if st := s.Stats(); st.DirectSend != 1 {
		t.Errorf("viewers on the direct path = %d, want 1", st.DirectSend)
	}
	if st := v.Stats(); st.Lost != 0 {
		t.Errorf("viewer lost %d packets", st.Lost)
	}
	st := s.Stats()
	t.Logf("GSO %v: %d datagrams in %d messages", st.GSO, st.Datagrams, st.SendMessages)
	ssrcs := map[uint32]bool{}
	for _, r := range v.PC().GetReceivers() {
		if tr := r.Track(); tr != nil {
			ssrcs[uint32(tr.SSRC())] = true
		}
	}
	seen := map[uint32]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < len(ssrcs) {
		select {
		case sr := <-srs:
			if !ssrcs[sr.SSRC] {
				t.Fatalf("sender report for unknown SSRC %d", sr.SSRC)
			}
			ntp := time.Unix(int64(sr.NTPTime>>32)-2208988800, 0)
			if sr.PacketCount == 0 || sr.OctetCount == 0 || time.Since(ntp).Abs() > 5*time.Second {
				t.Fatalf("sender report %+v (NTP time %s)", sr, ntp)
			}
			seen[sr.SSRC] = true
		case <-deadline:
			t.Fatalf("sender reports for %d of %d tracks", len(seen), len(ssrcs))
		}
	}
}

// A viewer that insists on being the DTLS server leaves the SFU without the ServerHello it
// learns keys from: it stays on Pion's send path and still gets everything.
func TestViewerAsDTLSServerFallsBackToPion(t *testing.T) {
	s := newSFU(t)
	publish(t, s, "passive", client.PublisherParams{})
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		offer = strings.ReplaceAll(offer, "a=setup:actpass", "a=setup:passive")
		_, a, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: "passive", Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	srs := senderReports(v)
	waitFor(t, 10*time.Second, func() bool { st := v.Stats(); return st.VideoPackets > 100 && st.FirstKeyframe > 0 })
	if st := s.Stats(); st.DirectSend != 0 {
		t.Errorf("viewers on the direct path = %d, want 0", st.DirectSend)
	}
	select {
	case <-srs:
	case <-time.After(10 * time.Second):
		t.Error("no sender report on Pion's send path")
	}
}

// Config.PionSend keeps every viewer on Pion's send path.
func TestPionSendPath(t *testing.T) {
	s, err := sfu.New(sfu.Config{Loopback: true, LiveGrace: 500 * time.Millisecond, PionSend: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publish(t, s, "pion", client.PublisherParams{})
	v, err := watch(t, s, "pion")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { st := v.Stats(); return st.VideoPackets > 100 && st.FirstKeyframe > 0 })
	if st := s.Stats(); st.DirectSend != 0 || v.Stats().Lost != 0 {
		t.Errorf("stats %+v, viewer %+v", st, v.Stats())
	}
}
