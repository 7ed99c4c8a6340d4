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
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/cluster"
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
	var one apiRoom
	if err := json.Unmarshal([]byte(get(t, b.url+"/api/rooms/"+room, http.StatusOK)), &one); err != nil || one.Node != idA || one.Room != room {
		t.Errorf("B's /api/rooms/%s = %+v %v", room, one, err)
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

	// DELETE /api/rooms/{room} on a node that does not serve the room (a third one; B still
	// has its own, cut off) ends it on its owner.
	c := start(t, mutate)
	eventsA2, unwatch2 := a.SFU().Watch(room)
	defer unwatch2()
	admin, _ := a.Signer().Issue(room, []auth.Grant{auth.GrantAdmin}, time.Hour, "ops")
	req, _ := http.NewRequest(http.MethodDelete, c.url+"/api/rooms/"+room, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE on C = %d", resp.StatusCode)
	}
	if reason := waitEnded(t, eventsA2); reason != "ended by an operator" {
		t.Errorf("A's room ended with %q", reason)
	}
}

// A publisher whose room's owner does not answer (it died a moment ago, still a member) gets
// the room once the owner's membership or lease lapses, without a redirect to the dead node.
func TestClusterOwnerUnreachable(t *testing.T) {
	redisURL := testserver.RedisURL(t, 10)
	a := start(t, func(c *config.Config) { c.Record = false; c.RedisURL = redisURL })
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ghost, err := cluster.New(cluster.Params{Redis: rdb, Self: cluster.Node{ID: "ghost", URL: "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	room := fmt.Sprintf("ghost-%d", rand.Int64N(1<<40))
	if _, err := ghost.Claim(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	_ = ghost.Close() // dies holding the room
	t0 := time.Now()
	if _, _, err := whipPublish(t, a, room, a.token(t, room, auth.GrantPublish)); err != nil {
		t.Fatalf("publish while the owner is dead: %v", err)
	}
	t.Logf("published %v after the owner died", time.Since(t0).Round(10*time.Millisecond))
	if o, ok, _ := a.Cluster().Owner(context.Background(), room); !ok || o.Node != a.Cluster().Self().ID {
		t.Errorf("owner = %+v %v", o, ok)
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
	// Another publisher on the same node: 409, and the room and its lease stay as they were.
	intruder, _ := s.Signer().Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "someone-else")
	if code, _ := postOffer(t, s.url+"/whip/"+room, intruder); code != http.StatusConflict {
		t.Errorf("intruder on the owner node: %d", code)
	}
	time.Sleep(1500 * time.Millisecond) // a renewal or more
	if o2, ok, _ := s.Cluster().Owner(context.Background(), room); !ok || o2.Fence != o.Fence {
		t.Errorf("lease after the intruder = %+v (was %+v)", o2, o)
	}
	if _, live := s.SFU().Room(room); !live {
		t.Error("the room ended")
	}
	// The same seller again on this node (a reconnect): it takes over with a new lease, and the
	// old lease, fenced out, does not end the new room.
	events, unwatch := s.SFU().Watch(room)
	defer unwatch()
	if _, _, err := whipPublish(t, s, room, s.token(t, room, auth.GrantPublish)); err != nil {
		t.Fatal(err)
	}
	if reason := waitEnded(t, events); reason != "publisher reconnected" {
		t.Errorf("old room ended with %q", reason)
	}
	waitFor(t, 5*time.Second, "the new room live", func() bool { _, ok := s.SFU().Room(room); return ok })
	time.Sleep(1500 * time.Millisecond)
	o3, ok, _ := s.Cluster().Owner(context.Background(), room)
	if _, live := s.SFU().Room(room); !live || !ok || o3.Fence <= o.Fence {
		t.Fatalf("after the reconnect: live %v, lease %+v (was %+v)", live, o3, o)
	}
	s.SFU().EndRoom(room, "test over")
	waitFor(t, 5*time.Second, "lease released when the room ends", func() bool {
		_, ok, _ := s.Cluster().Owner(context.Background(), room)
		return !ok
	})
}

// A lease fenced out (another node holds the room now) ends the local room: never two origins.
func TestClusterFencedOut(t *testing.T) {
	redisURL := testserver.RedisURL(t, 10)
	a := start(t, func(c *config.Config) { c.Record = false; c.RedisURL = redisURL })
	room := fmt.Sprintf("fence-%d", rand.Int64N(1<<40))
	events, unwatch := a.SFU().Watch(room)
	defer unwatch()
	if _, _, err := whipPublish(t, a, room, a.token(t, room, auth.GrantPublish)); err != nil {
		t.Fatal(err)
	}
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ghost, err := cluster.New(cluster.Params{Redis: rdb, Self: cluster.Node{ID: "ghost", URL: "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ghost.Close()
	// The ghost's lease replaces A's (as after a partition: A's lease lapsed, the ghost claimed).
	far := time.Now().Add(time.Hour).UnixMilli()
	rdb.Set(context.Background(), cluster.DefaultPrefix+":room:"+room,
		fmt.Sprintf(`{"room":%q,"node":"ghost","url":"http://127.0.0.1:1","fence":999,"since":%d,"expires":%d}`, room, far, far), 0)
	if reason := waitEnded(t, events); reason != "another node owns the room" {
		t.Errorf("ended with %q", reason)
	}
	if o, ok, _ := a.Cluster().Owner(context.Background(), room); !ok || o.Node != "ghost" || o.Fence != 999 {
		t.Errorf("the ghost's lease was touched: %+v %v", o, ok)
	}
}

// The internal endpoints want a relay token and a valid request.
func TestClusterInternalAuth(t *testing.T) {
	s := start(t, func(c *config.Config) { c.Record = false })
	relay, _ := s.Signer().Issue(auth.AnyRoom, []auth.Grant{auth.GrantRelay}, time.Hour, "node:x")
	admin, _ := s.Signer().Issue(auth.AnyRoom, []auth.Grant{auth.GrantAdmin}, time.Hour, "ops")
	for _, c := range []struct {
		path, token, body string
		want              int
	}{
		{"/internal/rooms/r1/handover", "", `{"owner":"x"}`, http.StatusUnauthorized},
		{"/internal/rooms/r1/handover", admin, `{"owner":"x"}`, http.StatusUnauthorized},
		{"/internal/rooms/r1/handover", relay, `{`, http.StatusBadRequest},
		{"/internal/rooms/-bad/handover", relay, `{"owner":"x"}`, http.StatusBadRequest},
		{"/internal/rooms/r1/handover", relay, `{"owner":"x"}`, http.StatusNotFound},
		{"/internal/rooms/r1/end", relay, `{"reason":"x"}`, http.StatusNotFound},
		{"/internal/rooms/r1/end", relay, `{}`, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.url+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if resp.StatusCode != c.want || body["error"] == "" {
			t.Errorf("%s %q: %d %v, want %d with an error", c.path, c.body, resp.StatusCode, body, c.want)
		}
	}
}
