package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/redistest"
)

// hungRedis is a redis-server of the test's own that the test can freeze (SIGSTOP): its
// connections stay open and nothing answers, as with an overloaded or black-holed Redis — the
// case where a client waits for its timeouts instead of failing at once.
func hungRedis(t *testing.T) (addr string, freeze func(on bool)) {
	t.Helper()
	if os.Getenv(redistest.Env) == "" {
		t.Skipf("%s not set: no real Redis here", redistest.Env)
	}
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
	addr = "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i > 200 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, func(on bool) {
		sig := syscall.SIGCONT
		if on {
			sig = syscall.SIGSTOP
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchRedisHung: Redis stops answering mid-show (frozen, connections open). A node asked
// for a room it does not carry asks Redis who owns it: that lookup gives up within its bound
// (about 2 s), so the viewer hears "not live" at once instead of after the Redis client's
// timeouts and retries (3 s reads, 3 retries: ~13 s, the chaos run's one unexplained outage
// length). Rooms the nodes carry need no Redis: a new viewer on the origin and one on the edge
// that pulls the room play while Redis is frozen, and the viewers already there never stop.
func TestWatchRedisHung(t *testing.T) {
	addr, freeze := hungRedis(t)
	mutate := func(c *config.Config) { c.Record = false; c.RedisURL = "redis://" + addr }
	a, b := start(t, mutate), start(t, mutate)
	waitFor(t, 5*time.Second, "two members", func() bool { n, _ := b.Cluster().Nodes(context.Background()); return len(n) == 2 })
	room := fmt.Sprintf("hung-%d", rand.Int64N(1<<40))
	if _, _, err := whipPublish(t, a, room, a.token(t, room, auth.GrantPublish)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "room live", func() bool { _, ok := a.SFU().Room(room); return ok })
	onEdge, _, err := whepWatch(t, b, room, "")
	if err != nil {
		t.Fatalf("WHEP on the edge: %v", err)
	}
	plays(t, onEdge, "the edge's viewer")

	freeze(true)
	defer freeze(false)
	frozen := time.Now()
	atFreeze := onEdge.Stats().VideoPackets

	began := time.Now()
	_, _, err = whepWatch(t, b, "nowhere-"+room, "")
	took := time.Since(began)
	t.Logf("a room nobody carries, Redis frozen: %v after %v", err, took.Round(10*time.Millisecond))
	if err == nil || statusOf(err) != 404 {
		t.Errorf("watch of a room nobody carries with Redis frozen: %v, want 404", err)
	}
	if took > 4*time.Second {
		t.Errorf("the watch waited %v on a frozen Redis, want about 2 s at most", took.Round(10*time.Millisecond))
	}

	for _, n := range []struct {
		name string
		s    *testServer
	}{{"the origin", a}, {"the edge", b}} {
		began := time.Now()
		ws, err := client.DialWS(ctxT(t), n.s.url)
		if err != nil {
			t.Fatal(err)
		}
		v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Connect(ctxT(t), ws.Watch(room, "")); err != nil {
			t.Fatalf("/ws watch on %s with Redis frozen: %v", n.name, err)
		}
		plays(t, v, "a new viewer on "+n.name)
		t.Logf("a new /ws viewer on %s plays %v after its watch, Redis frozen", n.name, time.Since(began).Round(10*time.Millisecond))
		_ = v.Close()
		_ = ws.Close()
	}
	if got := onEdge.Stats().VideoPackets; got < atFreeze+30 {
		t.Errorf("the edge's viewer got %d video packets in the %v Redis was frozen", got-atFreeze, time.Since(frozen).Round(10*time.Millisecond))
	}
}
