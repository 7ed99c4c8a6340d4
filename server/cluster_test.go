package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/sfu"
)

type apiRoom struct {
	Room    string `json:"room"`
	Node    string `json:"node"`
	Viewers int    `json:"viewers"`
}

func apiRooms(t *testing.T, s *testServer) map[string]apiRoom {
	t.Helper()
	var rooms []apiRoom
	if err := json.Unmarshal([]byte(get(t, s.url+"/api/rooms", http.StatusOK)), &rooms); err != nil {
		t.Fatal(err)
	}
	out := map[string]apiRoom{}
	for _, r := range rooms {
		out[r.Room] = r
	}
	return out
}

// postOffer POSTs a (junk) offer to a WHIP URL without following redirects: the cluster's
// decision (307 or a claim) is made before the offer is read.
func postOffer(t *testing.T, u, token string) (int, string) {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("v=0\r\n"))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// wsPublishError sends a publish on /ws and returns the error message the server answers.
func wsPublishError(t *testing.T, s *testServer, room, token string) map[string]any {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.WriteJSON(map[string]string{"type": "publish", "room": room, "token": token, "sdp": "v=0"})
	for {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m["type"] == "error" {
			return m
		}
	}
}

func waitEnded(t *testing.T, events <-chan sfu.Event) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == sfu.EventEnded {
				return ev.Reason
			}
		case <-timeout:
			t.Fatal("the room did not end")
		}
	}
}

// Two nodes on one real Redis: the publisher's node owns the room; another publisher reaching
// the other node is redirected (WHIP 307, /ws "redirect"); the same publisher takes the room
// over through the owner (its room ends there, the fence grows); a node that dies holding a
// room loses it to the other after about DeadAfter; /api/rooms lists the cluster's rooms.
func TestClusterTwoNodes(t *testing.T) {
	redisURL := testserver.RedisURL(t, 10)
	mutate := func(c *config.Config) { c.Record = false; c.RedisURL = redisURL }
	a, b := start(t, mutate), start(t, mutate)
	idA, idB := a.Cluster().Self().ID, b.Cluster().Self().ID
	if idA == idB || a.Cluster().Self().URL != a.url {
		t.Fatalf("node ids %q %q, A's URL %q", idA, idB, a.Cluster().Self().URL)
	}
	waitFor(t, 5*time.Second, "two members", func() bool { n, _ := b.Cluster().Nodes(context.Background()); return len(n) == 2 })

	room := fmt.Sprintf("clu-%d", rand.Int64N(1<<40))
	seller, _ := a.Signer().Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller")
	intruder, _ := a.Signer().Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "someone-else")
	if _, _, err := whipPublish(t, a, room, seller); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "live on A", func() bool { _, ok := a.SFU().Room(room); return ok })
	o1, ok, err := b.Cluster().Owner(context.Background(), room)
	if err != nil || !ok || o1.Node != idA || o1.URL != a.url {
		t.Fatalf("owner seen from B = %+v %v %v", o1, ok, err)
	}
	if r := apiRooms(t, b)[room]; r.Node != idA {
		t.Errorf("B's /api/rooms: %+v, want node %s", r, idA)
	}
	if r := apiRooms(t, a)[room]; r.Node != idA {
		t.Errorf("A's /api/rooms: %+v", r)
	}
	waitFor(t, 3*time.Second, "cluster gauges", func() bool {
		m := get(t, b.url+"/metrics", http.StatusOK)
		return strings.Contains(m, "relaycast_cluster_nodes 2") && strings.Contains(m, "relaycast_cluster_rooms 1")
	})

	// Another publisher on B: redirected to A, on WHIP and on /ws.
	if code, loc := postOffer(t, b.url+"/whip/"+room, intruder); code != http.StatusTemporaryRedirect || loc != a.url+"/whip/"+room {
		t.Errorf("intruder's WHIP on B: %d Location %q", code, loc)
	}
	if m := wsPublishError(t, b, room, intruder); m["code"] != "redirect" || m["url"] != a.url+"/whip/"+room {
		t.Errorf("intruder's /ws publish on B: %v", m)
	}
	if _, ok := a.SFU().Room(room); !ok {
		t.Fatal("A's room ended")
	}

	// The same seller on B: A ends its room and releases; B owns it with a larger fence.
	eventsA, unwatch := a.SFU().Watch(room)
	defer unwatch()
	if _, _, err := whipPublish(t, b, room, seller); err != nil {
		t.Fatalf("the seller's publish on B: %v", err)
	}
	if reason := waitEnded(t, eventsA); reason != "publisher moved to another node" {
		t.Errorf("A's room ended with %q", reason)
	}
	o2, ok, _ := a.Cluster().Owner(context.Background(), room)
	if !ok || o2.Node != idB || o2.Fence <= o1.Fence {
		t.Fatalf("owner after the takeover = %+v (before %+v)", o2, o1)
	}
	if _, ok := a.SFU().Room(room); ok {
		t.Error("A still has the room")
	}
	if r := apiRooms(t, a)[room]; r.Node != idB {
		t.Errorf("A's /api/rooms after the takeover: %+v", r)
	}

	// B dies holding the room (no release): A redirects to B until B is no member, then claims.
	b.StopClusterForTest()
	killed := time.Now()
	for {
		code, _ := postOffer(t, a.url+"/whip/"+room, intruder)
		if code != http.StatusTemporaryRedirect {
			if code != http.StatusBadRequest { // claimed, then the junk offer refused (and released)
				t.Fatalf("after B died: %d", code)
			}
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatal("A still redirects to the dead node")
		}
		time.Sleep(100 * time.Millisecond)
	}
	el := time.Since(killed)
	t.Logf("room claimable on A %v after B died", el.Round(10*time.Millisecond))
	if el < time.Second {
		t.Errorf("claimable %v after the kill: before the lease or membership lapsed", el)
	}
	if _, _, err := whipPublish(t, a, room, intruder); err != nil {
		t.Fatal(err)
	}
	o3, ok, _ := a.Cluster().Owner(context.Background(), room)
	if !ok || o3.Node != idA || o3.Fence <= o2.Fence {
		t.Fatalf("owner after B died = %+v", o3)
	}
	if n, _ := a.Cluster().Nodes(context.Background()); len(n) != 1 || n[0].ID != idA {
		t.Errorf("members after B died: %+v", n)
	}
}

// Without --redis-url the node is a cluster of one on its embedded Redis: same code path.
func TestClusterEmbedded(t *testing.T) {
	s := start(t, func(c *config.Config) { c.Record = false })
	room := fmt.Sprintf("solo-%d", rand.Int64N(1<<40))
	if _, _, err := whipPublish(t, s, room, s.token(t, room, auth.GrantPublish)); err != nil {
		t.Fatal(err)
	}
	o, ok, err := s.Cluster().Owner(context.Background(), room)
	if err != nil || !ok || o.Node != s.Cluster().Self().ID {
		t.Fatalf("owner = %+v %v %v", o, ok, err)
	}
	if r := apiRooms(t, s)[room]; r.Node != s.Cluster().Self().ID {
		t.Errorf("/api/rooms: %+v", r)
	}
	s.SFU().EndRoom(room, "test over")
	waitFor(t, 5*time.Second, "lease released when the room ends", func() bool {
		_, ok, _ := s.Cluster().Owner(context.Background(), room)
		return !ok
	})
}
