package cluster

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
)

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
		addr, restart := redistest.Own(t)
		rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = rc.Close() })
		targets = append(targets, target{name: "redis-server-restart", rdb: rc, wipe: restart})
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
