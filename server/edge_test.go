package server_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/cluster"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
	"github.com/relaycast/relaycast/signaling/wire"
)

// mapLocator is a Locator filled by the test: room → the node to pull it from.
type mapLocator struct {
	mu sync.Mutex
	m  map[string]cluster.Owner
}

func (l *mapLocator) Owner(_ context.Context, room string) (cluster.Owner, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.m[room]
	return o, ok, nil
}

func (l *mapLocator) set(room, node, url string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[room] = cluster.Owner{Room: room, Node: node, URL: url, Fence: 1}
}

// edgeNode starts a node (viewer auth on, no recording) whose edge pulls from what loc says.
func edgeNode(t *testing.T, id string, loc cluster.Locator, mutate ...func(*config.Config)) *server.Server {
	t.Helper()
	cfg := testserver.Config(t)
	cfg.Record = false
	cfg.ViewerAuth = true
	for _, m := range mutate {
		m(&cfg)
	}
	return testserver.Run(t, server.Params{Config: cfg, Stdout: io.Discard, Logger: testserver.Logger(t),
		EdgeLocator: loc, EdgeNode: id, EdgeLinger: 700 * time.Millisecond})
}

// publishShow publishes room "show" to origin over WHIP (closed when the test ends) and waits
// until it is live.
func publishShow(t *testing.T, origin *server.Server) *client.Publisher {
	t.Helper()
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, client.WHIP(nil, origin.URL()+"/whip/show", testserver.Token(t, origin, "show", auth.GrantPublish), nil)); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "origin live", func() bool { _, ok := origin.SFU().Room("show"); return ok })
	return pub
}

// whepViewer connects a measuring viewer to url (WHEP) with a subscribe token of srv's secret.
func whepViewer(t *testing.T, srv *server.Server, url string) *client.Viewer {
	t.Helper()
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	tok := testserver.Token(t, srv, "show", auth.GrantSubscribe)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := v.Connect(ctx, client.WHIP(nil, url, tok, nil)); err != nil {
		t.Fatalf("WHEP %s: %v", url, err)
	}
	return v
}

func plays(t *testing.T, v *client.Viewer, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for st := v.Stats(); st.VideoPackets < 30 || st.AudioPackets < 10 || st.FirstKeyframe == 0; st = v.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not play: %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Three nodes, each a whole server: a simulcast WHIP publish to the origin; five WHEP viewers
// and one /ws viewer on edge 1 are one pull at the origin (one edge, no viewer); edge 2 pulls
// from edge 1 (depth 2) and plays; with viewer auth on, the relay token is all a pull needs.
// Each pull stops Linger after its last viewer leaves; the origin's room ending ends the edges'.
func TestEdgeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("three servers streaming for several seconds")
	}
	before := runtime.NumGoroutine()
	t.Run("nodes", func(t *testing.T) {
		locO, loc1, loc2 := &mapLocator{m: map[string]cluster.Owner{}}, &mapLocator{m: map[string]cluster.Owner{}}, &mapLocator{m: map[string]cluster.Owner{}}
		origin := edgeNode(t, "origin", locO)
		edge1 := edgeNode(t, "edge1", loc1)
		edge2 := edgeNode(t, "edge2", loc2)
		locO.set("show", "origin", origin.URL())
		loc1.set("show", "origin", origin.URL())
		loc2.set("show", "edge1", edge1.URL())

		pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, Simulcast: true, Bitrate: 1_200_000})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := pub.Connect(ctx, client.WHIP(nil, origin.URL()+"/whip/show", testserver.Token(t, origin, "show", auth.GrantPublish), nil)); err != nil {
			t.Fatal(err)
		}
		until(t, 10*time.Second, "origin live", func() bool { _, ok := origin.SFU().Room("show"); return ok })

		var viewers []*client.Viewer
		for range 5 {
			viewers = append(viewers, whepViewer(t, edge1, edge1.URL()+"/whep/show"))
		}
		ws, err := client.DialWS(ctx, edge1.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		wsv, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer wsv.Close()
		if err := wsv.Connect(ctx, ws.Watch("show", testserver.Token(t, edge1, "show", auth.GrantSubscribe))); err != nil {
			t.Fatal(err)
		}
		for i, v := range append(viewers, wsv) {
			plays(t, v, "edge 1 viewer "+string(rune('a'+i)))
		}
		if info, _ := origin.SFU().Room("show"); info.Edges != 1 || info.Viewers != 0 {
			t.Errorf("origin with 6 viewers on edge 1: %+v (want 1 edge, 0 viewers)", info)
		}
		if info, _ := edge1.SFU().Room("show"); info.Viewers != 6 || !info.Relayed {
			t.Errorf("edge 1: %+v", info)
		}
		for srv, want := range map[*server.Server]string{origin: "relaycast_edges 1\n", edge1: "relaycast_relays 1\n"} {
			resp, err := http.Get(srv.URL() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), want) {
				t.Errorf("%s/metrics lacks %q", srv.URL(), strings.TrimSpace(want))
			}
		}
		if st := viewers[0].Stats(); st.Lost > st.VideoPackets/20 {
			t.Errorf("edge viewer lost %d of %d packets", st.Lost, st.VideoPackets)
		}

		// Depth 2: edge 2 pulls from edge 1.
		deep := whepViewer(t, edge2, edge2.URL()+"/whep/show")
		plays(t, deep, "edge 2 viewer")
		if info, _ := edge1.SFU().Room("show"); info.Edges != 1 {
			t.Errorf("edge 1 does not count edge 2's pull: %+v", info)
		}
		if info, _ := origin.SFU().Room("show"); info.Edges != 1 {
			t.Errorf("origin with a tree of two edges: %+v (want 1 edge)", info)
		}

		// Linger: edge 2's last viewer leaves → its pull stops, edge 1 keeps its own.
		_ = deep.Close()
		until(t, 10*time.Second, "edge 2's pull stops", func() bool { _, ok := edge2.SFU().Room("show"); return !ok })
		until(t, 5*time.Second, "edge 1 sees edge 2 go", func() bool { info, _ := edge1.SFU().Room("show"); return info.Edges == 0 })
		if _, ok := edge1.SFU().Room("show"); !ok {
			t.Fatal("edge 1 stopped its pull with viewers")
		}

		// The origin's room ends: every edge viewer is disconnected and edge 1's room ends, with
		// the normal end (not "the show goes on elsewhere": the origin says it is over).
		edgeEvents, unwatch := edge1.SFU().Watch("show")
		defer unwatch()
		_ = pub.Close()
		for _, v := range viewers {
			select {
			case <-v.Disconnected():
			case <-time.After(10 * time.Second):
				t.Fatal("an edge viewer stayed connected after the origin's room ended")
			}
		}
		until(t, 5*time.Second, "edge 1's room ends", func() bool { _, ok := edge1.SFU().Room("show"); return !ok })
		if why := waitEnded(t, edgeEvents); why == cluster.ReasonOriginLost {
			t.Errorf("edge 1's room ended with %q after the seller stopped", why)
		}
		if st := origin.SFU().Stats(); st.Edges != 0 {
			t.Errorf("origin still counts %d edges", st.Edges)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); runtime.NumGoroutine() > before+5; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}

// A /ws viewer on an edge that asked for the room before the seller went live (`waiting`) gets
// `live` once the origin is live: its watch makes the edge pull the room (Edge.Await).
// TestEdgePullNotCounted: an origin whose --max-conns is used up by its seller and a viewer
// refuses another viewer, but not an edge's relay pull (one session for all of the edge's
// viewers; refusing it would refuse them all).
func TestEdgePullNotCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("two servers streaming")
	}
	locO, loc1 := &mapLocator{m: map[string]cluster.Owner{}}, &mapLocator{m: map[string]cluster.Owner{}}
	origin := edgeNode(t, "origin", locO, func(c *config.Config) { c.MaxConns = 2 })
	edge := edgeNode(t, "edge", loc1)
	locO.set("show", "origin", origin.URL())
	loc1.set("show", "origin", origin.URL())
	publishShow(t, origin)
	plays(t, whepViewer(t, origin, origin.URL()+"/whep/show"), "the origin's viewer")

	extra, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = extra.Connect(ctx, client.WHIP(nil, origin.URL()+"/whep/show", testserver.Token(t, origin, "show", auth.GrantSubscribe), nil))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a third session on an origin with --max-conns 2: %v, want 503", err)
	}
	plays(t, whepViewer(t, edge, edge.URL()+"/whep/show"), "the edge's viewer")
	if info, _ := origin.SFU().Room("show"); info.Edges != 1 || info.Viewers != 1 {
		t.Errorf("origin: %+v, want 1 viewer and 1 edge", info)
	}
}

func TestEdgeWSWaitingViewer(t *testing.T) {
	locO, loc1 := &mapLocator{m: map[string]cluster.Owner{}}, &mapLocator{m: map[string]cluster.Owner{}}
	origin, edge1 := edgeNode(t, "origin", locO), edgeNode(t, "edge1", loc1)
	u := "ws" + strings.TrimPrefix(edge1.URL(), "http") + "/ws"
	conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {edge1.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	next := func() string {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		env, err := wire.Open(data)
		if err != nil {
			t.Fatal(err)
		}
		return env.Type
	}
	if typ := next(); typ != wire.TypeHello {
		t.Fatalf("first message %q", typ)
	}
	msg, _ := wire.Encode(wire.Watch{Room: "show", Token: testserver.Token(t, edge1, "show", auth.GrantSubscribe)})
	if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
	if typ := next(); typ != wire.TypeWaiting {
		t.Fatalf("watch of a room not live anywhere: %q, want waiting", typ)
	}

	publishShow(t, origin)
	loc1.set("show", "origin", origin.URL())
	for typ := next(); typ != wire.TypeLive; typ = next() {
		if typ != wire.TypeStatus && typ != wire.TypePing {
			t.Fatalf("waiting viewer got %q before live", typ)
		}
	}
	if info, _ := origin.SFU().Room("show"); info.Edges != 1 {
		t.Errorf("origin after the waiting viewer's edge pulled: %+v", info)
	}
}
