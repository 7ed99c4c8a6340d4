package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
)

// Three nodes on one real Redis, nothing else configured: a simulcast WHIP publish to A; WHEP
// viewers on C play through C's pull from A (the cluster's owner, no redirect), one edge at A;
// GET /api/rooms on C names A. A shuts down: C's room ends with it; the seller publishes again
// to B (the new owner) and a new viewer on C plays through a pull from B.
func TestEdgeCluster(t *testing.T) {
	redisURL := testserver.RedisURL(t, 11)
	mutate := func(c *config.Config) { c.Record = false; c.RedisURL = redisURL }
	a, b, c := start(t, mutate), start(t, mutate), start(t, mutate)
	waitFor(t, 5*time.Second, "three members", func() bool { n, _ := c.Cluster().Nodes(context.Background()); return len(n) == 3 })

	seller, _ := a.Signer().Issue("big", []auth.Grant{auth.GrantPublish}, time.Hour, "seller")
	publishTo := func(s *testServer) *client.Publisher {
		t.Helper()
		pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, Simulcast: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pub.Close() })
		if err := pub.Connect(ctxT(t), client.WHIP(nil, s.url+"/whip/big", seller, nil)); err != nil {
			t.Fatalf("publish to %s: %v", s.url, err)
		}
		waitFor(t, 10*time.Second, "live", func() bool { _, ok := s.SFU().Room("big"); return ok })
		return pub
	}
	pub := publishTo(a)

	var viewers []*client.Viewer
	for range 3 {
		v, _, err := whepWatch(t, c, "big", "")
		if err != nil {
			t.Fatalf("WHEP on C: %v", err)
		}
		viewers = append(viewers, v)
	}
	for _, v := range viewers {
		plays(t, v, "C's viewer")
	}
	if info, _ := a.SFU().Room("big"); info.Edges != 1 || info.Viewers != 0 {
		t.Errorf("A with 3 viewers on C: %+v", info)
	}
	if info, _ := c.SFU().Room("big"); !info.Relayed || info.Viewers != 3 {
		t.Errorf("C's room: %+v", info)
	}
	if r := apiRooms(t, c)["big"]; r.Node != a.Cluster().Self().ID {
		t.Errorf("C's /api/rooms: %+v, want node %s", r, a.Cluster().Self().ID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers {
		select {
		case <-v.Disconnected():
		case <-time.After(10 * time.Second):
			t.Fatal("C's viewer stayed connected after A went away")
		}
	}
	waitFor(t, 5*time.Second, "C's room ends", func() bool { _, ok := c.SFU().Room("big"); return !ok })
	_ = pub.Close()

	publishTo(b)
	v, _, err := whepWatch(t, c, "big", "")
	if err != nil {
		t.Fatalf("WHEP on C after the move: %v", err)
	}
	plays(t, v, "C's viewer after the move")
	if info, _ := b.SFU().Room("big"); info.Edges != 1 {
		t.Errorf("B after C re-pulled: %+v", info)
	}
	if r := apiRooms(t, c)["big"]; r.Node != b.Cluster().Self().ID {
		t.Errorf("C's /api/rooms after the move: %+v, want node %s", r, b.Cluster().Self().ID)
	}
}
