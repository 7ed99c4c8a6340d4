package sfu

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/relaycast/relaycast/client"
)

// A publisher on the direct receive path whose packets come from an address the read hook does
// not know (Chromium moving to another ICE pair without Pion reporting a new selected pair) still
// gets TWCC feedback for them, from its tracks' Pion feed, and the hook is pointed at Pion's
// selected pair again within routeCheck. Before, such packets were in no feedback at all and
// Chromium's estimate fell to the floor.
func TestLostRouteKeepsTWCC(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for a few seconds")
	}
	s, err := New(Config{Loopback: true, LiveGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true, TWCC: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Publish(ctx, PublishParams{Room: "route", Offer: offer, Owner: "o"})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	var in *pubIngest
	wait("the publisher's route", func() bool {
		if m := s.ingest.m.Load(); m != nil {
			for _, p := range *m {
				in = p
				return true
			}
		}
		return false
	})
	st := &s.stats
	wait("packets on the direct path", func() bool { return st.ingestPackets.Load() > 100 })

	var reported atomic.Int64 // packets the TWCC feedback reports received
	in.twcc.mu.Lock()
	orig := in.twcc.write
	in.twcc.write = func(pkts []rtcp.Packet) {
		for _, p := range pkts {
			if cc, ok := p.(*rtcp.TransportLayerCC); ok {
				reported.Add(int64(len(cc.RecvDeltas)))
			}
		}
		orig(pkts)
	}
	in.twcc.mu.Unlock()
	time.Sleep(2 * ingestInterval) // the feedback of what came before is out
	// What share of the packets the feedback reports while the route holds (not every packet
	// carries a transport-wide sequence number).
	b0, bd0 := reported.Load(), st.ingestPackets.Load()
	time.Sleep(10 * ingestInterval)
	before := float64(reported.Load()-b0) / float64(st.ingestPackets.Load()-bd0)

	// The hook loses the route; the next look at Pion's pair is due only after routeCheck.
	in.mu.Lock()
	real := in.addr
	in.routeAt.Store(time.Now().UnixNano())
	s.ingest.set(real, netip.MustParseAddrPort("127.0.0.1:9"), in)
	in.addr = netip.MustParseAddrPort("127.0.0.1:9")
	in.mu.Unlock()
	rep0, direct0, pion0 := reported.Load(), st.ingestPackets.Load(), st.ingestMissed.Load()

	wait("the route back", func() bool { in.mu.Lock(); defer in.mu.Unlock(); return in.addr == real })
	if n := st.ingestMissed.Load() - pion0; n < 10 {
		t.Fatalf("only %d packets came through Pion while the hook had no route", n)
	}
	wait("the direct path again", func() bool { return st.ingestPackets.Load() > direct0+50 })
	time.Sleep(3 * ingestInterval) // the feedback of the last of them is out
	arrived := st.ingestPackets.Load() - direct0 + st.ingestMissed.Load() - pion0
	got := uint64(reported.Load() - rep0)
	during := float64(got) / float64(arrived)
	t.Logf("while routed away: %d packets through Pion; feedback reported %d received of %d that arrived (%.2f; %.2f with the route)", st.ingestMissed.Load()-pion0, got, arrived, during, before)
	if during < before-0.15 { // without the feedback from Pion's feed: ≈ 0.68 here
		t.Fatalf("the TWCC feedback reported %.2f of the packets that arrived without the route, %.2f with it", during, before)
	}
}
