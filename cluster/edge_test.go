package cluster_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/cluster"
	"github.com/relaycast/relaycast/sfu"
)

// fakeLocator answers Owner from a map (or with err).
type fakeLocator struct {
	mu     sync.Mutex
	owners map[string]cluster.Owner
	err    error
	calls  atomic.Int32
}

func (l *fakeLocator) Owner(_ context.Context, room string) (cluster.Owner, bool, error) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return cluster.Owner{}, false, l.err
	}
	o, ok := l.owners[room]
	return o, ok, nil
}

// origin is an SFU behind a minimal WHEP endpoint that takes every POST as a relay pull (the
// server's wiring checks the relay token: server/edge.go) and counts them.
type origin struct {
	sfu   *sfu.SFU
	srv   *httptest.Server
	posts atomic.Int32
	mu    sync.Mutex
	subs  map[string]*sfu.Subscriber
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	s, err := sfu.New(sfu.Config{Loopback: true, LiveGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{sfu: s, subs: map[string]*sfu.Subscriber{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whep/{room}", func(w http.ResponseWriter, r *http.Request) {
		o.posts.Add(1)
		if r.Header.Get("Authorization") != "Bearer relay-token" {
			http.Error(w, "no relay token", http.StatusUnauthorized)
			return
		}
		offer, _ := io.ReadAll(r.Body)
		sub, answer, err := s.Subscribe(r.Context(), sfu.SubscribeParams{Room: r.PathValue("room"), Offer: string(offer), Relay: true})
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		o.mu.Lock()
		o.subs[sub.ID()] = sub
		o.mu.Unlock()
		w.Header().Set("Location", "/whep/"+r.PathValue("room")+"/"+sub.ID())
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	})
	mux.HandleFunc("DELETE /whep/{room}/{id}", func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		sub := o.subs[r.PathValue("id")]
		delete(o.subs, r.PathValue("id"))
		o.mu.Unlock()
		if sub != nil {
			_ = sub.Close()
		}
		w.WriteHeader(http.StatusOK)
	})
	o.srv = httptest.NewServer(mux)
	t.Cleanup(func() { o.srv.Close(); _ = s.Close() })
	return o
}

func (o *origin) owner(room string) cluster.Owner {
	return cluster.Owner{Room: room, Node: "origin", URL: o.srv.URL, Fence: 1}
}

func publish(t *testing.T, s *sfu.SFU, room string) *client.Publisher {
	t.Helper()
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, ans, err := s.Publish(ctx, sfu.PublishParams{Room: room, Offer: offer, Owner: "seller"})
		return ans, err
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { _, ok := s.Room(room); return ok })
	return pub
}

func watch(t *testing.T, s *sfu.SFU, room string) *client.Viewer {
	t.Helper()
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, ans, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: room, Offer: offer})
		return ans, err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newEdge(t *testing.T, loc cluster.Locator, linger time.Duration) (*cluster.Edge, *sfu.SFU) {
	t.Helper()
	s, err := sfu.New(sfu.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	e, err := cluster.NewEdge(cluster.EdgeParams{Locator: loc, SFU: s, Self: "edge", Loopback: true, Linger: linger,
		Token: func() (string, error) { return "relay-token", nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(); _ = s.Close() })
	return e, s
}

// Concurrent Ensure calls for one room share one pull; viewers of the edge play; the origin
// counts one edge and no viewer; the pull stops Linger after the last viewer left, and a new
// Ensure pulls again; when the origin's room ends, so does the edge's.
func TestEdgeEnsure(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("edge", func(t *testing.T) {
		o := newOrigin(t)
		pub := publish(t, o.sfu, "show")
		loc := &fakeLocator{owners: map[string]cluster.Owner{"show": o.owner("show")}}
		e, es := newEdge(t, loc, 500*time.Millisecond)

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- e.Ensure(context.Background(), "show")
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := o.posts.Load(); n != 1 {
			t.Fatalf("8 concurrent Ensure made %d pulls", n)
		}
		if info, ok := es.Room("show"); !ok || !info.Relayed {
			t.Fatalf("edge room after Ensure: %+v %v", info, ok)
		}
		var viewers []*client.Viewer
		for range 5 {
			viewers = append(viewers, watch(t, es, "show"))
		}
		for _, v := range viewers {
			waitFor(t, 10*time.Second, func() bool { st := v.Stats(); return st.VideoPackets > 20 && st.FirstKeyframe > 0 })
		}
		if err := e.Ensure(context.Background(), "show"); err != nil || o.posts.Load() != 1 {
			t.Errorf("Ensure of a live room: %v, %d pulls", err, o.posts.Load())
		}
		if info, _ := o.sfu.Room("show"); info.Edges != 1 || info.Viewers != 0 {
			t.Errorf("origin with 5 viewers on the edge: %+v", info)
		}
		if info, _ := es.Room("show"); info.Viewers != 5 {
			t.Errorf("edge room: %+v", info)
		}

		// Linger: the pull outlives the last viewer by about Linger, then stops at the origin too.
		for _, v := range viewers {
			_ = v.Close()
		}
		left := time.Now()
		waitFor(t, 10*time.Second, func() bool { _, ok := es.Room("show"); return !ok })
		if d := time.Since(left); d < 400*time.Millisecond {
			t.Errorf("the pull stopped %s after the last viewer left, Linger is 500ms", d)
		}
		waitFor(t, 5*time.Second, func() bool { info, _ := o.sfu.Room("show"); return info.Edges == 0 })
		if len(e.Pulls()) != 0 {
			t.Errorf("pulls after linger: %v", e.Pulls())
		}

		// Pull again; the origin's room ends: the edge's room ends and its viewer is disconnected.
		if err := e.Ensure(context.Background(), "show"); err != nil {
			t.Fatal(err)
		}
		v := watch(t, es, "show")
		waitFor(t, 10*time.Second, func() bool { return v.Stats().VideoPackets > 20 })
		_ = pub.Close()
		select {
		case <-v.Disconnected():
		case <-time.After(10 * time.Second):
			t.Fatal("the edge viewer was not disconnected when the origin's room ended")
		}
		waitFor(t, 5*time.Second, func() bool { _, ok := es.Room("show"); return !ok && len(e.Pulls()) == 0 })
	})
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before+2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}

// Ensure pulls nothing for a room no node serves or this node owns, and reports a failing
// locator or owner with ErrLocate / ErrPull (a later Ensure tries again).
func TestEdgeEnsureErrors(t *testing.T) {
	o := newOrigin(t)
	loc := &fakeLocator{owners: map[string]cluster.Owner{
		"mine":    {Room: "mine", Node: "edge", URL: "http://127.0.0.1:1"},
		"notlive": o.owner("notlive"),
	}}
	e, es := newEdge(t, loc, time.Second)
	ctx := context.Background()
	for _, room := range []string{"nobody", "mine"} {
		if err := e.Ensure(ctx, room); err != nil {
			t.Errorf("Ensure(%s) = %v, want nil", room, err)
		}
	}
	if o.posts.Load() != 0 {
		t.Errorf("%d pulls for rooms not to pull", o.posts.Load())
	}
	if err := e.Ensure(ctx, "notlive"); !errors.Is(err, cluster.ErrPull) {
		t.Errorf("Ensure of a room not live at its owner: %v, want ErrPull", err)
	}
	if err := e.Ensure(ctx, "notlive"); !errors.Is(err, cluster.ErrPull) || o.posts.Load() != 2 {
		t.Errorf("a second Ensure after a failed pull: %v, %d pulls", err, o.posts.Load())
	}
	loc.mu.Lock()
	loc.err = errors.New("redis down")
	loc.mu.Unlock()
	if err := e.Ensure(ctx, "x"); !errors.Is(err, cluster.ErrLocate) {
		t.Errorf("Ensure with a failing locator: %v, want ErrLocate", err)
	}
	if _, ok := es.Room("notlive"); ok {
		t.Error("a failed pull left a room")
	}
}

// Await pulls a room as soon as another node owns it, once per owner and fence: a pull that
// lingered out is not restarted for the same broadcast, a new fence is pulled again.
func TestEdgeAwait(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("await", func(t *testing.T) {
		o := newOrigin(t)
		loc := &fakeLocator{owners: map[string]cluster.Owner{}}
		e, es := newEdge(t, loc, 500*time.Millisecond)
		stop1, stop2 := e.Await("later"), e.Await("later")
		defer stop2()
		time.Sleep(700 * time.Millisecond)
		if o.posts.Load() != 0 || loc.calls.Load() == 0 {
			t.Fatalf("before the room is owned: %d pulls, %d locator calls", o.posts.Load(), loc.calls.Load())
		}
		publish(t, o.sfu, "later")
		loc.mu.Lock()
		loc.owners["later"] = o.owner("later")
		loc.mu.Unlock()
		waitFor(t, 5*time.Second, func() bool { _, ok := es.Room("later"); return ok })
		stop1()
		stop1()
		// Nobody subscribes: the pull lingers out and is not restarted for the same fence.
		waitFor(t, 5*time.Second, func() bool { _, ok := es.Room("later"); return !ok })
		time.Sleep(1500 * time.Millisecond)
		if n := o.posts.Load(); n != 1 {
			t.Fatalf("%d pulls for one broadcast", n)
		}
		loc.mu.Lock()
		next := o.owner("later")
		next.Fence = 2
		loc.owners["later"] = next
		loc.mu.Unlock()
		waitFor(t, 5*time.Second, func() bool { return o.posts.Load() == 2 })
		stop2()
	})
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before+2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}
