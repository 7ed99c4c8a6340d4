package sfu_test

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// via rewrites an exchange's SDP so that the peer's traffic crosses the relay (see through).
func (r *lossyRelay) via(ex client.Exchange) client.Exchange {
	return func(ctx context.Context, offer string) (string, error) {
		if m := hostCand.FindStringSubmatch(offer); m != nil {
			r.mu.Lock()
			r.viewer, _ = net.ResolveUDPAddr("udp4", "127.0.0.1:"+m[2])
			r.mu.Unlock()
		}
		offer = keepFirstCandidate(hostCand.ReplaceAllString(offer, fmt.Sprintf("${1}%d${3}", r.b.LocalAddr().(*net.UDPAddr).Port)))
		answer, err := ex(ctx, offer)
		if err != nil {
			return "", err
		}
		return hostCand.ReplaceAllString(answer, fmt.Sprintf("${1}%d${3}", r.a.LocalAddr().(*net.UDPAddr).Port)), nil
	}
}

// inject sends datagrams to the SFU from the relay's SFU-facing socket: to the SFU they come
// from the peer behind the relay, after its ICE and DTLS handshakes.
func (r *lossyRelay) inject(t *testing.T, d []byte) {
	t.Helper()
	if _, err := r.b.WriteToUDP(d, r.server); err != nil {
		t.Fatal(err)
	}
}

func subscribeTo(s *sfu.SFU, room string, got *(*sfu.Subscriber)) client.Exchange {
	return func(ctx context.Context, offer string) (string, error) {
		sub, a, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: room, Offer: offer})
		if got != nil {
			*got = sub
		}
		return a, err
	}
}

func newViewer(t *testing.T, ex client.Exchange) *client.Viewer {
	t.Helper()
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, TrackRecovery: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := v.Connect(ctx, ex); err != nil {
		t.Fatal(err)
	}
	return v
}

func videoSSRC(v *client.Viewer) uint32 {
	for _, r := range v.PC().GetReceivers() {
		if tr := r.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
			return uint32(tr.SSRC())
		}
	}
	return 0
}

// latencyOver is the share of forwarding-latency samples above d between two snapshots.
func latencyOver(a, b sfu.LatencyHistogram, d time.Duration) (float64, uint64) {
	var over, all uint64
	for i := range b.Counts {
		n := b.Counts[i] - a.Counts[i]
		all += n
		if i >= len(sfu.LatencyBuckets) || sfu.LatencyBuckets[i] > d {
			over += n
		}
	}
	if all == 0 {
		return 0, 0
	}
	return float64(over) / float64(all), all
}

// One viewer floods the SFU with keyframe requests and with NACKs for every sequence number.
// The publisher sees at most one keyframe request per KeyframeInterval, the flooder gets at most
// its resend budget, and a viewer next to it loses nothing and keeps receiving.
func TestRTCPFloodFromOneViewerIsThrottled(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	s := newSFU(t)
	pub, _ := publish(t, s, "flood", client.PublisherParams{})
	flooder := newViewer(t, subscribeTo(s, "flood", nil))
	healthy := newViewer(t, subscribeTo(s, "flood", nil))
	waitFor(t, 10*time.Second, func() bool {
		return healthy.Stats().VideoPackets > 100 && flooder.Stats().VideoPackets > 100 && videoSSRC(flooder) != 0
	})
	ssrc := videoSSRC(flooder)
	// Let the joins' own keyframe requests settle.
	time.Sleep(time.Second)

	st0, plis0, got0 := s.Stats(), pub.PLIs(), healthy.Stats().VideoPackets
	start := time.Now()
	sent := 0
	for time.Since(start) < 3*time.Second {
		pairs := make([]rtcp.NackPair, 60) // 60 × 17 = 1,020 sequence numbers per packet
		for i := range pairs {
			pairs[i] = rtcp.NackPair{PacketID: uint16(sent*1020 + i*17), LostPackets: 0xffff}
		}
		err := flooder.PC().WriteRTCP([]rtcp.Packet{
			&rtcp.PictureLossIndication{MediaSSRC: ssrc},
			&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: pairs},
		})
		if err != nil {
			t.Fatal(err)
		}
		if sent++; sent%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	floodEnd := time.Now()
	waitFor(t, 10*time.Second, func() bool { return s.Stats().PLIsReceived-st0.PLIsReceived >= uint64(sent)/2 })
	time.Sleep(time.Second) // a merged keyframe request may still be pending
	elapsed := time.Since(start)
	st := s.Stats()

	plis := pub.PLIs() - plis0
	resent := st.Resent - st0.Resent
	t.Logf("flood: %d RTCP packets in %s (%d PLIs, %d NACKed packets seen by the SFU); publisher got %d keyframe requests; %d resent",
		sent, floodEnd.Sub(start), st.PLIsReceived-st0.PLIsReceived, st.NACKs-st0.NACKs, plis, resent)
	if maxPLI := int64(elapsed/(300*time.Millisecond)) + 2; plis > maxPLI {
		t.Errorf("publisher got %d keyframe requests in %s, want at most %d", plis, elapsed, maxPLI)
	}
	if maxResent := uint64(60 * (elapsed/time.Second + 2)); resent > maxResent {
		t.Errorf("resent %d packets to the flooder in %s, want at most %d", resent, elapsed, maxResent)
	}
	if resent == 0 {
		t.Error("the flooder's NACKs were never answered (the test did not exercise the cache)")
	}
	if got := healthy.Stats().VideoPackets - got0; got < 100 {
		t.Errorf("healthy viewer received only %d video packets during the flood", got)
	}
	if miss, span := healthy.Missing(100); miss != 0 {
		t.Errorf("healthy viewer missed %d of %d packets during the flood", miss, span)
	}
	share, n := latencyOver(st0.ForwardLatency, st.ForwardLatency, 5*time.Millisecond)
	t.Logf("forwarding latency during the flood: %.1f%% of %d samples over 5 ms", 100*share, n)
}

// Garbage after the handshakes, on the path of a viewer and of the publisher: random bytes of
// every first-byte class (STUN, DTLS, RTP/RTCP), truncated RTP and RTCP headers, and malformed
// RTCP inside valid SRTCP. Nobody crashes or stalls: the viewer behind the garbage and a clean
// viewer keep receiving without loss.
func TestMalformedInputDoesNotCrashOrStall(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	s := newSFU(t)
	addr := s.UDPAddrs()[0].(*net.UDPAddr)
	pubRelay := newLossyRelay(t, addr, 0)
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, pubRelay.via(func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Publish(ctx, sfu.PublishParams{Room: "junk", Offer: offer})
		return a, err
	})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { _, ok := s.Room("junk"); return ok })

	viewRelay := newLossyRelay(t, addr, 0)
	dirty := newViewer(t, viewRelay.via(subscribeTo(s, "junk", nil)))
	clean := newViewer(t, subscribeTo(s, "junk", nil))
	waitFor(t, 10*time.Second, func() bool { return dirty.Stats().VideoPackets > 50 && clean.Stats().VideoPackets > 50 })
	before := s.Stats()
	dirty0, clean0 := dirty.Stats().VideoPackets, clean.Stats().VideoPackets

	rng := rand.New(rand.NewSource(6))
	junk := func() [][]byte {
		var out [][]byte
		for _, first := range []byte{0x00, 0x01, 0x16, 0x17, 0x15, 0x40, 0x80, 0x81, 0x90, 0xBF} {
			for _, n := range []int{1, 2, 4, 11, 12, 13, 20, 64, 200, 1200} {
				b := make([]byte, n)
				rng.Read(b)
				b[0] = first
				out = append(out, b)
			}
		}
		// Truncated RTP (payload types 96, 111) and RTCP (SR, RR, RTPFB, PSFB) headers.
		for _, pt := range []byte{96, 111, 0xE0, 200, 201, 205, 206} {
			out = append(out, []byte{0x80, pt}, []byte{0x80, pt, 0, 1, 0, 0}, []byte{0x80, pt, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0})
		}
		return out
	}
	for round := 0; round < 20; round++ {
		for _, d := range junk() {
			viewRelay.inject(t, d)
			pubRelay.inject(t, d)
		}
		// Malformed RTCP that SRTCP accepts (it only needs the 8-byte header with an SSRC).
		for _, raw := range [][]byte{
			{0x81, 205, 0x00, 0x40, 0, 0, 0, 1, 0, 0, 0, 2},          // NACK whose length overruns
			{0x81, 206, 0x00, 0x01, 0, 0, 0, 1},                      // PLI without its media SSRC
			{0x9F, 206, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2, 9, 9, 9}, // FMT 31, odd length
			{0x80, 203, 0x00, 0x01, 0, 0, 0, 1},                      // BYE
			{0x80, 210, 0x00, 0x01, 0, 0, 0, 1},                      // unknown type
		} {
			p := rtcp.RawPacket(raw)
			if err := dirty.PC().WriteRTCP([]rtcp.Packet{&p}); err != nil {
				t.Logf("viewer RTCP %x: %v", raw, err)
			}
			_ = pub.PC().WriteRTCP([]rtcp.Packet{&p})
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, func() bool {
		return dirty.Stats().VideoPackets > dirty0+200 && clean.Stats().VideoPackets > clean0+200
	})
	st := s.Stats()
	if st.Viewers != 2 || st.Rooms != 1 {
		t.Errorf("after the garbage: %+v", st)
	}
	if st.PacketsIn <= before.PacketsIn {
		t.Error("the publisher's packets stopped arriving")
	}
	for name, v := range map[string]*client.Viewer{"viewer behind the garbage": dirty, "clean viewer": clean} {
		if miss, span := v.Missing(100); miss != 0 {
			t.Errorf("%s missed %d of %d packets", name, miss, span)
		}
	}
}

// A viewer whose packets stop reaching the SFU (it never acknowledges: no consent responses, no
// RTCP) is dropped by ICE consent, and a viewer next to it loses nothing meanwhile.
func TestSilentViewerIsDroppedOthersUnaffected(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the ICE timeout")
	}
	s := newSFU(t)
	publish(t, s, "mute", client.PublisherParams{})
	addr := s.UDPAddrs()[0].(*net.UDPAddr)
	relay := newLossyRelay(t, addr, 0)
	var silentSub *sfu.Subscriber
	silent := newViewer(t, relay.via(subscribeTo(s, "mute", &silentSub)))
	healthy := newViewer(t, subscribeTo(s, "mute", nil))
	waitFor(t, 10*time.Second, func() bool { return silent.Stats().VideoPackets > 50 && healthy.Stats().VideoPackets > 50 })

	relay.mute.Store(true) // viewer → SFU: into the void
	got0 := healthy.Stats().VideoPackets
	select {
	case <-silentSub.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("the silent viewer was not dropped: %+v", s.Stats())
	}
	waitFor(t, 5*time.Second, func() bool { return s.Stats().Viewers == 1 })
	if got := healthy.Stats().VideoPackets - got0; got < 100 {
		t.Errorf("healthy viewer received only %d video packets meanwhile", got)
	}
	if miss, span := healthy.Missing(100); miss != 0 {
		t.Errorf("healthy viewer missed %d of %d packets", miss, span)
	}
}
