package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/redistest"
)

// ownRedis starts a redis-server of the test's own (no persistence) on a free port and returns
// its address and a restart function (the data is lost, as in a crash).
func ownRedis(t *testing.T) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("%s is set but redis-server is not installed: %v", redistest.Env, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var cmd *exec.Cmd
	run := func() {
		cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
			if i > 200 {
				t.Fatal("redis-server did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stop := func() {
		if cmd != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			cmd = nil
		}
	}
	run()
	t.Cleanup(stop)
	return addr, func() { stop(); run() }
}

// Redis restarted mid-show (its data lost): the media keeps flowing to the viewer, and the
// node's membership and the room's lease come back by themselves, same owner and fence.
func TestClusterRedisRestart(t *testing.T) {
	if os.Getenv(redistest.Env) == "" {
		t.Skipf("%s not set: no real Redis here", redistest.Env)
	}
	addr, restart := ownRedis(t)
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
