package cluster

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
)

// redisProcess is a redis-server of the test's own, which it can restart (data lost: no
// persistence) on the same port.
type redisProcess struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedisProcess(t *testing.T) *redisProcess {
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
	r := &redisProcess{t: t, port: port}
	r.start(bin)
	t.Cleanup(r.stop)
	return r
}

func (r *redisProcess) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisProcess) start(bin string) {
	r.t.Helper()
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	r.cmd.Stdout, r.cmd.Stderr = nil, os.Stderr
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		if i > 100 {
			r.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisProcess) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *redisProcess) restart() {
	r.t.Helper()
	bin := r.cmd.Path
	r.stop()
	r.start(bin)
}

// Redis loses its data (restarted, or flushed): heartbeats register the nodes again and the
// owners' renewals re-create their leases, same owner and fence; nobody's lease is lost, and
// the fence counter is restored so that a later claim still gets a larger fence.
func TestRedisRestart(t *testing.T) {
	ctx := context.Background()
	type target struct {
		name  string
		rdb   redis.UniversalClient
		wipe  func()
		close func()
	}
	m, mc := redistest.Mini(t)
	targets := []target{{name: "miniredis-flushall", rdb: mc, wipe: m.FlushAll}}
	if os.Getenv(redistest.Env) != "" {
		rp := startRedisProcess(t)
		rc := redis.NewClient(&redis.Options{Addr: rp.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = rc.Close() })
		targets = append(targets, target{name: "redis-server-restart", rdb: rc, wipe: rp.restart})
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			b := backend{name: tg.name, rdb: tg.rdb}
			prefix := newPrefix(t)
			a := start(t, fast(b, prefix, "node-a"))
			bb := start(t, fast(b, prefix, "node-b"))
			la, err := a.Claim(ctx, "show")
			if err != nil {
				t.Fatal(err)
			}
			tg.wipe()
			if n, _ := tg.rdb.Exists(ctx, prefix+":room:show", prefix+":nodes").Result(); n != 0 {
				t.Fatalf("%d keys survived the wipe", n)
			}
			eventually(t, 3*time.Second, "members registered again", func() bool { return len(ids(t, bb)) == 2 })
			eventually(t, 3*time.Second, "the owner's lease re-created", func() bool {
				o, ok, _ := bb.Owner(ctx, "show")
				return ok && o.Node == "node-a" && o.Fence == la.Fence()
			})
			select {
			case <-la.Lost():
				t.Fatal("the owner's lease was lost")
			default:
			}
			la.Release()
			lb, err := bb.Claim(ctx, "show")
			if err != nil || lb.Fence() <= la.Fence() {
				t.Fatalf("claim after the restart = %v, fence %d after %d", err, lb.Fence(), la.Fence())
			}
			lb.Release()
		})
	}
}
