package sfu

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/client"
)

func TestPacketCache(t *testing.T) {
	var c packetCache
	for seq := 65000; seq < 65000+1500; seq++ { // wraps around 65535
		c.put(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(seq)}})
	}
	last := uint16((65000 + 1499) % 65536)
	if p := c.get(last); p == nil || p.SequenceNumber != last {
		t.Errorf("newest packet missing")
	}
	if p := c.get(last - cacheSize + 1); p == nil {
		t.Errorf("oldest kept packet missing")
	}
	if p := c.get(last - cacheSize); p != nil {
		t.Errorf("evicted packet %d still returned", p.SequenceNumber)
	}
}

func TestResendGuard(t *testing.T) {
	var g resendGuard
	now := time.Now().UnixNano()
	if !g.allow(7, now) {
		t.Fatal("first resend refused")
	}
	if g.allow(7, now+int64(10*time.Millisecond)) {
		t.Error("same packet resent twice within the holdoff")
	}
	if !g.allow(7, now+int64(200*time.Millisecond)) {
		t.Error("resend after the holdoff refused")
	}
	n := 0
	for seq := uint16(100); seq < 1000; seq++ {
		if g.allow(seq, now+int64(300*time.Millisecond)) {
			n++
		}
	}
	if n != maxResendPerSec-2 {
		t.Errorf("allowed %d resends in one second, want the cap %d", n, maxResendPerSec-2)
	}
}

func TestPrepareDropsPaddingAndRenumbers(t *testing.T) {
	u := &upTrack{}
	seqs := []struct {
		seq     uint16
		payload int
		fwd     bool
		out     uint16
	}{
		{100, 10, true, 100}, {101, 0, false, 0}, {102, 0, false, 0}, {103, 10, true, 101}, {104, 10, true, 102},
	}
	for _, s := range seqs {
		p := &rtp.Packet{Header: rtp.Header{SequenceNumber: s.seq, Extension: true}, Payload: make([]byte, s.payload)}
		if got := u.prepare(p); got != s.fwd {
			t.Fatalf("seq %d: forward=%v", s.seq, got)
		}
		if s.fwd && (p.SequenceNumber != s.out || p.Header.Extension) {
			t.Errorf("seq %d → %d (ext %v), want %d without extensions", s.seq, p.SequenceNumber, p.Header.Extension, s.out)
		}
	}
}

// A viewer's NACK is answered from the shared cache.
func TestNACKAnsweredFromCache(t *testing.T) {
	s, _ := liveRoom(t, "nack")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Subscribe(ctx, SubscribeParams{Room: "nack", Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	for v.Stats().VideoPackets < 50 {
		time.Sleep(10 * time.Millisecond)
	}
	var ssrc uint32
	for _, r := range v.PC().GetReceivers() {
		if tr := r.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
			ssrc = uint32(tr.SSRC())
		}
	}
	s.mu.Lock()
	var u *upTrack
	for _, x := range s.rooms["nack"].tracks {
		if x.kind == webrtc.RTPCodecTypeVideo {
			u = x
		}
	}
	s.mu.Unlock()
	// Two cached packets in a row (the first slot in array order may hold the newest packet,
	// whose successor is not cached yet).
	var seq uint16
	found := false
	for i := range u.cache.slots {
		p := u.cache.slots[i].Load()
		if p != nil && u.cache.get(p.SequenceNumber+1) != nil {
			seq, found = p.SequenceNumber, true
			break
		}
	}
	if !found {
		t.Fatal("no two consecutive packets in the cache")
	}
	nack := &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq, seq + 1})}
	if err := v.PC().WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Resent < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stats after NACK: %+v", s.Stats())
		}
	}
}
