package loadtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/loadtest"
)

// TestLiveRunInProcess runs the live scenario, small, against the real server (in process, its
// embedded Redis): bidders, chatters, viewer sockets and a stalled one in one room. Latency
// limits are off (no timed assertions in tests); what must hold exactly is checked: every socket
// joined, no event lost or doubled on any socket, every accepted bid in the bid log once, prices
// rising by valid increments, the winner the log's last leader, every chat message on every
// viewer socket.
func TestLiveRunInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4 s load run with 46 sockets: skipped with -short")
	}
	srv := testserver.Start(t, nil)
	mint := func(r loadtest.MintRequest) (string, error) {
		grants := make([]auth.Grant, len(r.Grants))
		for i, g := range r.Grants {
			grants[i] = auth.Grant(g)
		}
		return srv.Signer().IssueClaims(auth.Claims{Room: r.Room, Grants: grants, Subject: r.Subject, Name: r.Name}, time.Hour)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := loadtest.Params{
		URL: srv.URL(), Room: "ltlive", Duration: 4 * time.Second, Warmup: -1, Interval: 500 * time.Millisecond,
		Bidders: 20, BidRate: 100, Chatters: 4, ChatRate: 4, LiveViewers: 20, Stalled: 2, Mint: mint,
		Thresholds: loadtest.Thresholds{MaxBidP95: -1, MaxPriceP95: -1, MaxChatP95: -1},
	}
	rep, err := loadtest.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Live
	if l == nil {
		t.Fatal("no live summary")
	}
	t.Logf("bids %d sent, %d accepted, refused %v, errors %d %v; chat %d sent, %d refused, %d deliveries; events %d; log %+v",
		l.BidsSent, l.BidsAccepted, l.Refused, l.BidErrors, l.FirstErrors, l.ChatSent, l.ChatRefused, l.ChatDeliveries, l.Events, l.Log)
	if l.Joined != l.Target || l.Target != 46 {
		t.Errorf("joined %d of %d (want 46): %v", l.Joined, l.Target, l.FirstErrors)
	}
	if l.Gaps != 0 || l.Dups != 0 || l.SocketsClosed != 0 {
		t.Errorf("lost %d, duplicates %d, sockets closed %d (%v)", l.Gaps, l.Dups, l.SocketsClosed, l.CloseReasons)
	}
	if l.BidsAccepted == 0 || l.BidErrors != 0 || l.BidResults != l.BidsSent {
		t.Errorf("bids: %d sent, %d answered, %d accepted, %d errors", l.BidsSent, l.BidResults, l.BidsAccepted, l.BidErrors)
	}
	g := l.Log
	if g == nil || !g.Read {
		t.Fatalf("bid log not read: %v", l.Notes)
	}
	if g.Lost != 0 || g.DoubleAccepted != 0 || g.NotIncreasing != 0 || g.BadIncrement != 0 || g.Phantom != 0 || !g.FinalMatches ||
		int64(g.ClientAccepted) != l.BidsAccepted || !g.EventsMatch {
		t.Errorf("bid log check: %+v", g)
	}
	if want := (l.ChatSent - l.ChatRefused) * int64(l.Viewers); l.ChatSent == 0 || l.ChatDeliveries != want {
		t.Errorf("chat: %d sent, %d refused (%v), %d deliveries, want %d", l.ChatSent, l.ChatRefused, l.ChatErrors, l.ChatDeliveries, want)
	}
	if len(l.StalledSockets) != 2 {
		t.Errorf("stalled sockets: %+v", l.StalledSockets)
	}
	for _, c := range rep.Checks {
		if !c.Pass {
			t.Errorf("check %s", c)
		}
	}
}
