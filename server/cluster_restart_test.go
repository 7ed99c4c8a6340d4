package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/redistest"
)

// Redis restarted mid-show (its data lost): the media keeps flowing to the viewer, and the
// node's membership and the room's lease come back by themselves, same owner and fence.
func TestClusterRedisRestart(t *testing.T) {
	addr, restart := redistest.Own(t)
	s := start(t, func(c *config.Config) { c.Record = false; c.RedisURL = "redis://" + addr })
	room := fmt.Sprintf("restart-%d", rand.Int64N(1<<40))
	if _, _, err := whipPublish(t, s, room, s.token(t, room, auth.GrantPublish)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "room live", func() bool { _, ok := s.SFU().Room(room); return ok })
	v, _, err := whepWatch(t, s, room, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "video at the viewer", func() bool { return v.Stats().VideoPackets > 30 })
	before, ok, _ := s.Cluster().Owner(context.Background(), room)
	if !ok {
		t.Fatal("no owner")
	}

	restart()
	restarted := time.Now()
	atRestart := v.Stats().VideoPackets
	waitFor(t, 5*time.Second, "membership and the lease back", func() bool {
		o, ok, _ := s.Cluster().Owner(context.Background(), room)
		n, _ := s.Cluster().Nodes(context.Background())
		return ok && o.Fence == before.Fence && o.Node == before.Node && len(n) == 1
	})
	t.Logf("membership and lease back %v after the restart", time.Since(restarted).Round(10*time.Millisecond))
	waitFor(t, 5*time.Second, "video still flowing", func() bool { return v.Stats().VideoPackets > atRestart+30 })
	if _, live := s.SFU().Room(room); !live {
		t.Fatal("the room ended")
	}
}
