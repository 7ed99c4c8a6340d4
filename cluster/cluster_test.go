package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
)

// backend is one Redis the tests run on: the embedded miniredis, and the real Redis of
// RELAYCAST_TEST_REDIS when it is set.
type backend struct {
	name string
	rdb  redis.UniversalClient
	mini *miniredis.Miniredis // nil for the real Redis
}

func backends(t *testing.T) []backend {
	m, mc := redistest.Mini(t)
	out := []backend{{name: "miniredis", rdb: mc, mini: m}}
	if rc := redistest.Real(t, redis.Options{}); rc != nil {
		out = append(out, backend{name: "redis", rdb: rc})
	}
	return out
}

// fast are short timings: beats every 50 ms, dead after 300 ms, leases of 300 ms.
func fast(b backend, prefix, id string) Params {
	return Params{Redis: b.rdb, Prefix: prefix, Self: Node{ID: id, URL: "http://" + id},
		Heartbeat: 50 * time.Millisecond, DeadAfter: 300 * time.Millisecond, LeaseTTL: 300 * time.Millisecond}
}

func newPrefix(t *testing.T) string {
	return fmt.Sprintf("test:%s:%d", t.Name(), rand.Int64())
}

func start(t *testing.T, p Params) *Cluster {
	t.Helper()
	c, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ids(t *testing.T, c *Cluster) []string {
	t.Helper()
	nodes, err := c.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return out
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParams(t *testing.T) {
	_, rdb := redistest.Mini(t)
	for _, p := range []Params{{}, {Redis: rdb}, {Redis: rdb, Self: Node{ID: "a b"}}, {Redis: rdb, Self: Node{ID: `a"b`}}} {
		if _, err := New(p); !errors.Is(err, ErrBadParams) {
			t.Errorf("New(%+v) = %v, want ErrBadParams", p.Self, err)
		}
	}
	c, err := New(Params{Redis: rdb, Self: Node{ID: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.p.Heartbeat != time.Second || c.p.DeadAfter != 3*time.Second || c.p.LeaseTTL != 3*time.Second || c.p.Prefix != DefaultPrefix {
		t.Errorf("defaults = %v %v %v %q", c.p.Heartbeat, c.p.DeadAfter, c.p.LeaseTTL, c.p.Prefix)
	}
	if _, err := c.Claim(context.Background(), `bad"room`); !errors.Is(err, ErrBadRoom) {
		t.Errorf("Claim(bad room) = %v", err)
	}
}

// Members register at once, carry their stats and draining flag, and a silent one is dropped
// (its node key deleted by another member's sweep).
func TestMembership(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			prefix := newPrefix(t)
			pa := fast(b, prefix, "node-a")
			pa.Stats = func() (int, int) { return 2, 7 }
			pa.Self.Capacity = 500
			a := start(t, pa)
			bb := start(t, fast(b, prefix, "node-b"))
			if got := ids(t, a); len(got) != 2 || got[0] != "node-a" || got[1] != "node-b" {
				t.Fatalf("Nodes = %v", got)
			}
			n, ok, err := bb.Node(context.Background(), "node-a")
			if err != nil || !ok {
				t.Fatalf("Node(node-a) = %v %v", ok, err)
			}
			if n.URL != "http://node-a" || n.Rooms != 2 || n.Viewers != 7 || n.Capacity != 500 || n.SeenAt == 0 || n.Draining {
				t.Errorf("node-a = %+v", n)
			}
			a.SetDraining(true)
			if n, _, _ := bb.Node(context.Background(), "node-a"); !n.Draining {
				t.Errorf("after SetDraining: %+v", n)
			}
			eventually(t, time.Second, "heartbeat counts 2 nodes", func() bool { nodes, _ := bb.Counts(); return nodes == 2 })
			_ = a.Close() // silent from now on, like a dead node
			eventually(t, 2*time.Second, "node-a dropped", func() bool { got := ids(t, bb); return len(got) == 1 && got[0] == "node-b" })
			eventually(t, time.Second, "node-a's key swept", func() bool {
				return b.rdb.Exists(context.Background(), prefix+":node:node-a").Val() == 0 &&
					b.rdb.ZScore(context.Background(), prefix+":nodes", "node-a").Err() == redis.Nil
			})
			if _, ok, _ := bb.Node(context.Background(), "node-a"); ok {
				t.Error("Node(node-a) still found")
			}
		})
	}
}

// One live owner per room; a second claim on the owner node takes over with a higher fence and
// fences the first lease out; release deletes only its own lease.
func TestClaimOwnedTakeoverRelease(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			prefix := newPrefix(t)
			a := start(t, fast(b, prefix, "node-a"))
			bb := start(t, fast(b, prefix, "node-b"))
			l1, err := a.Claim(ctx, "show")
			if err != nil {
				t.Fatal(err)
			}
			_, err = bb.Claim(ctx, "show")
			var owned *OwnedError
			if !errors.As(err, &owned) || !errors.Is(err, ErrOwned) || owned.Owner.Node != "node-a" || owned.Owner.URL != "http://node-a" || owned.Owner.Fence != l1.Fence() {
				t.Fatalf("B's claim = %v (%+v)", err, owned)
			}
			o, ok, err := bb.Owner(ctx, "show")
			if err != nil || !ok || o.Node != "node-a" || o.Fence != l1.Fence() || o.Room != "show" || o.Since == 0 || o.Expires <= o.Since {
				t.Fatalf("Owner = %+v %v %v", o, ok, err)
			}
			// Renewed while held: still owned after several lease lifetimes.
			time.Sleep(700 * time.Millisecond)
			if o, ok, _ := bb.Owner(ctx, "show"); !ok || o.Fence != l1.Fence() {
				t.Fatalf("after renewals Owner = %+v %v", o, ok)
			}
			rooms, err := bb.Rooms(ctx)
			if err != nil || len(rooms) != 1 || rooms[0].Room != "show" || rooms[0].Node != "node-a" {
				t.Fatalf("Rooms = %+v %v", rooms, err)
			}
			// The same node claims again (a reconnecting seller): a new fence, the old lease lost.
			l2, err := a.Claim(ctx, "show")
			if err != nil || l2.Fence() <= l1.Fence() {
				t.Fatalf("re-claim = %v, fence %d after %d", err, l2.Fence(), l1.Fence())
			}
			select {
			case <-l1.Lost():
			case <-time.After(time.Second):
				t.Fatal("the fenced-out lease was not lost")
			}
			l1.Release() // a stale release deletes nothing
			if o, ok, _ := bb.Owner(ctx, "show"); !ok || o.Fence != l2.Fence() {
				t.Fatalf("after stale release Owner = %+v %v", o, ok)
			}
			l2.Release()
			l2.Release() // idempotent
			if _, ok, _ := bb.Owner(ctx, "show"); ok {
				t.Fatal("still owned after release")
			}
			if rooms, _ := bb.Rooms(ctx); len(rooms) != 0 {
				t.Fatalf("Rooms after release = %+v", rooms)
			}
			l3, err := bb.Claim(ctx, "show")
			if err != nil || l3.Fence() <= l2.Fence() {
				t.Fatalf("B's claim after release = %v, fence %d", err, l3.Fence())
			}
			l3.Release()
		})
	}
}

// A node that dies holding a lease (Close releases nothing) loses the room to another node
// once it is no live member or its lease lapsed; one that lost membership is fenced out.
func TestDeadOwner(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			prefix := newPrefix(t)
			a := start(t, fast(b, prefix, "node-a"))
			bb := start(t, fast(b, prefix, "node-b"))
			la, err := a.Claim(ctx, "show")
			if err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			_ = a.Close()
			if _, err := bb.Claim(ctx, "show"); !errors.Is(err, ErrOwned) {
				t.Fatalf("claim right after the kill = %v", err)
			}
			var lb *Lease
			eventually(t, 2*time.Second, "B claims the dead node's room", func() bool {
				lb, err = bb.Claim(ctx, "show")
				return err == nil
			})
			if el := time.Since(killed); el < 150*time.Millisecond {
				t.Errorf("taken over after %v, before the lease or membership could lapse", el)
			}
			if lb.Fence() <= la.Fence() {
				t.Errorf("fence %d after %d", lb.Fence(), la.Fence())
			}
			lb.Release()

			// A member that lost its membership (its heartbeat stopped reaching Redis) while its
			// lease still renews: another node takes over and the holder is fenced out.
			c := start(t, fast(b, prefix, "node-c"))
			lc, err := c.Claim(ctx, "other")
			if err != nil {
				t.Fatal(err)
			}
			c.cancelHeartbeatForTest(t)
			eventually(t, 2*time.Second, "B takes over from a non-member", func() bool {
				lb, err = bb.Claim(ctx, "other")
				return err == nil
			})
			select {
			case <-lc.Lost():
			case <-time.After(time.Second):
				t.Fatal("the holder was not fenced out")
			}
			lb.Release()
		})
	}
}

// Decisions follow Redis TIME, not the node's clock: with Redis an hour ahead or behind, leases
// and membership work; moving only Redis's clock past the lease makes it lapse.
func TestClockSkew(t *testing.T) {
	ctx := context.Background()
	for _, skew := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			m, rdb := redistest.Mini(t)
			b := backend{name: "miniredis", rdb: rdb, mini: m}
			redisNow := time.Now().Add(skew)
			m.SetTime(redisNow) // TIME answers this (frozen) instant: the node's clock is off by skew
			prefix := newPrefix(t)
			a := start(t, fast(b, prefix, "node-a"))
			bb := start(t, fast(b, prefix, "node-b"))
			if got := ids(t, bb); len(got) != 2 {
				t.Fatalf("Nodes = %v", got)
			}
			n, _, _ := bb.Node(ctx, "node-a")
			if n.SeenAt != redisNow.UnixMilli() {
				t.Errorf("seen_at = %d, want Redis time %d", n.SeenAt, redisNow.UnixMilli())
			}
			la, err := a.Claim(ctx, "show")
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // longer than the lease on the node's clock
			if o, ok, _ := bb.Owner(ctx, "show"); !ok || o.Fence != la.Fence() {
				t.Fatalf("Owner = %+v %v", o, ok)
			}
			if _, err := bb.Claim(ctx, "show"); !errors.Is(err, ErrOwned) {
				t.Fatalf("B's claim = %v", err)
			}
			select {
			case <-la.Lost():
				t.Fatal("lease lost")
			default:
			}
			_ = a.Close()
			m.SetTime(redisNow.Add(time.Second)) // only Redis's clock moves past lease and membership
			lb, err := bb.Claim(ctx, "show")
			if err != nil {
				t.Fatalf("B's claim after Redis time passed the lease = %v", err)
			}
			lb.Release()
		})
	}
}

// A node's leases are renewed together (issue 16: no goroutine or timer per room): 300 leases,
// more than one call renews, stay held over many TTLs with no goroutine added per lease; one
// that another node takes after it lapsed is lost alone, and a released one stays released.
func TestManyLeasesRenewedTogether(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			p := fast(b, newPrefix(t), "n1")
			p.LeaseTTL = time.Second // the batch renews every 333 ms
			c := start(t, p)
			ctx := context.Background()
			before := runtime.NumGoroutine()
			var ls []*Lease
			for i := 0; i < 300; i++ {
				l, err := c.Claim(ctx, fmt.Sprintf("room-%d", i))
				if err != nil {
					t.Fatal(err)
				}
				ls = append(ls, l)
			}
			if g := runtime.NumGoroutine(); g > before+5 {
				t.Fatalf("%d goroutines for 300 leases (%d before)", g, before)
			}
			time.Sleep(3 * p.LeaseTTL)
			owners, err := c.Rooms(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(owners) != 300 {
				t.Fatalf("%d rooms held after 3 TTLs, want 300", len(owners))
			}
			for _, l := range ls {
				select {
				case <-l.Lost():
					t.Fatalf("lease %s lost", l.Owner().Room)
				default:
				}
			}
			// Fence room-7 out: its key now holds a later fence.
			if err := b.rdb.Set(ctx, c.k.room("room-7"), `{"room":"room-7","node":"n2","url":"x","fence":999999,"since":1,"expires":1}`, 0).Err(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ls[7].Lost():
			case <-time.After(3 * p.LeaseTTL):
				t.Fatal("the fenced-out lease was not lost")
			}
			ls[8].Release()
			time.Sleep(2 * p.LeaseTTL)
			if _, ok, _ := c.Owner(ctx, "room-8"); ok {
				t.Fatal("a released lease was renewed")
			}
			for i, l := range ls {
				if i == 7 || i == 8 {
					continue
				}
				select {
				case <-l.Lost():
					t.Fatalf("lease %s lost with room-7", l.Owner().Room)
				default:
				}
			}
		})
	}
}
