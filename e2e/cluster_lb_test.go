package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/internal/lbtest"
)

// lbEdgeRelay: the cluster's edge relay (K2) is merged, so a room published once on one node
// plays on every node. Until then the test publishes the watched room on every node itself
// (the nodes do not share live rooms yet) and drains the node the viewer landed on. With the
// edge relay merged, set it to true: the room is published once, on node 0, and the viewer is
// put on another node (the page reloads until HAProxy gives it one), which is drained.
const lbEdgeRelay = false

// lbNode is one real `relaycast serve` process of the cluster.
type lbNode struct {
	name, url, addr string
	icePort         int // its ICE UDP port: which node a page's peer connection reached
	cmd             *exec.Cmd
	log             string
	exited          chan struct{}
}

// startLBNode starts a cluster node: the shared Redis and storage directory, its own data dir,
// a fixed ICE UDP port, and a drain timeout of drain.
func startLBNode(t *testing.T, bin, name, secret, redisURL, storage string, drain time.Duration) *lbNode {
	t.Helper()
	dir := t.TempDir()
	port, icePort := freeTCPPort(t), freeUDPPort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	n := &lbNode{name: name, url: "http://" + addr, addr: addr, icePort: icePort, log: filepath.Join(dir, "serve.log"), exited: make(chan struct{})}
	logf, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(bin, "serve", "--http", addr, "--public-url", n.url, "--ice-udp-port", strconv.Itoa(icePort), "--ice-loopback",
		"--data-dir", filepath.Join(dir, "data"), "--storage-dir", storage, "--auth-secret", secret, "--redis-url", redisURL,
		"--workers", "0", "--drain-timeout", drain.String(), "--log-level", "debug")
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(n.log)
			t.Logf("--- node %s log ---\n%s", name, b)
		}
	})
	waitHTTP(t, n.url+"/readyz")
	return n
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// remotePort is the server's ICE port of a page's selected candidate pair (0 before one).
const remotePort = `(async () => {
  const pc = window.relaycast && window.relaycast.pc;
  if (!pc) return 0;
  const s = await pc.getStats();
  let port = 0;
  s.forEach(r => {
    if (r.type === "candidate-pair" && r.state === "succeeded" && (r.nominated || r.selected)) {
      const rc = s.get(r.remoteCandidateId);
      if (rc) port = rc.port;
    }
  });
  return port;
})()`

// pageNode is the node a page's peer connection is connected to (waits up to 10 s for one).
func pageNode(t *testing.T, page context.Context, nodes []*lbNode) *lbNode {
	t.Helper()
	var port int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if port, err = chromedp.Run(page, chromedp.Evaluate[int](remotePort, awaitPromise)); err == nil && port != 0 {
			for _, n := range nodes {
				if n.icePort == port {
					return n
				}
			}
		}
	}
	t.Fatalf("the page's peer connection reached no node (remote ICE port %d)", port)
	return nil
}

// publishTo sends a looping clip into room over WHIP straight to one node; stop ends it (DELETE).
func publishTo(t *testing.T, n *lbNode, signer *auth.Signer, room string) (stop func()) {
	t.Helper()
	v, a := clip(t, 6*time.Second)
	pub, err := client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: v, Audio: a, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	tok, _ := signer.Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller-"+room+"-"+n.name)
	var loc string
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, client.WHIP(nil, n.url+"/whip/"+room, tok, &loc)); err != nil {
		t.Fatalf("publish %s on node %s: %v", room, n.name, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Delete(ctx, nil, loc, tok)
		_ = pub.Close()
	}
}

// TestClusterBehindHAProxy: three real `relaycast serve` processes share one real Redis and
// one storage directory behind a real HAProxy (round robin, health check GET /readyz, no
// stickiness). Every page, the REST API and /ws work through the balancer whichever node
// answers, and each node serves some. A Chromium watch page is connected through HAProxy; its
// node gets SIGTERM: /readyz is 503 at once, HAProxy takes the node out within 1.5 s, the
// draining node refuses new sessions (WHIP/WHEP 503 + Retry-After + JSON, /ws `reconnect` +
// close "draining") and tells its sockets to reconnect; the page reconnects through HAProxy and
// plays again from another node (the time from SIGTERM is measured), and the node exits once
// its last session leaves. Then a broadcast page publishing through HAProxy is drained the same
// way and publishes again through the balancer without the seller doing anything.
func TestClusterBehindHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes, HAProxy and Chromium (skipped with -short)")
	}
	lbtest.Binary(t)
	chromium(t)
	needFFmpeg(t)
	redisURL := ownRedis(t)
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	const secret = "lb-secret-0123456789abcdef"
	signer, err := auth.NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	storage := t.TempDir()
	var nodes []*lbNode
	var backends, names []string
	for i := range 3 {
		n := startLBNode(t, bin, fmt.Sprintf("n%d", i), secret, redisURL, storage, 15*time.Second)
		nodes = append(nodes, n)
		backends, names = append(backends, n.addr), append(names, n.name)
	}
	lb := lbtest.Start(t, lbtest.Params{Backends: backends, Names: names})
	ctx := context.Background()

	// ---- every page, the API and /ws through the balancer, from every node ----
	const room = "lbwatch"
	stops := map[string]func(){} // node → its WHIP publisher of room
	for _, n := range nodes {
		if !lbEdgeRelay || n == nodes[0] {
			stops[n.name] = publishTo(t, n, signer, room)
		}
	}
	served := map[string]map[string]int{} // kind → node → answers
	count := func(kind, who string) {
		if served[kind] == nil {
			served[kind] = map[string]int{}
		}
		served[kind][who]++
	}
	paths := []string{"/", "/watch/x", "/broadcast/x", "/studio/x", "/v/x", "/upload", "/admin", "/api/rooms", "/api/recordings", "/healthz"}
	if !lbEdgeRelay {
		paths = append(paths, "/api/rooms/"+room)
	}
	for _, p := range paths {
		for range 3 {
			code, who, err := lb.Served(ctx, http.MethodGet, p)
			if err != nil || code != http.StatusOK {
				t.Fatalf("GET %s through HAProxy: %d %v (node %q)", p, code, err, who)
			}
			kind := "pages"
			if strings.HasPrefix(p, "/api/") {
				kind = "api"
			}
			count(kind, who)
		}
	}
	wsURL := "ws" + strings.TrimPrefix(lb.URL, "http") + "/ws"
	for range 6 {
		c, res, err := websocket.DefaultDialer.Dial(wsURL, nil)
		if err != nil {
			t.Fatalf("/ws through HAProxy: %v", err)
		}
		var hello struct{ Type string }
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.ReadJSON(&hello); err != nil || hello.Type != "hello" {
			t.Fatalf("/ws through HAProxy: first message %+v, %v", hello, err)
		}
		count("ws", res.Header.Get(lbtest.BackendHeader))
		_ = c.Close()
	}
	for _, kind := range []string{"pages", "api", "ws"} {
		for _, n := range nodes {
			if served[kind][n.name] == 0 {
				t.Errorf("no %s answer through HAProxy came from node %s: %v", kind, n.name, served[kind])
			}
		}
	}
	t.Logf("answers through HAProxy by node: %v", served)

	// ---- a watch page through HAProxy; its node drains ----
	browserCtx := browser(t)
	watch := tab(t, browserCtx)
	var v *lbNode
	for try := 0; ; try++ {
		if err := chromedp.Do(watch, chromedp.Navigate(lb.URL+"/watch/"+room)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, watch, 20*time.Second, `window.relaycast && window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 10`, "the watch page to play through HAProxy")
		v = pageNode(t, watch, nodes)
		if !lbEdgeRelay || v != nodes[0] || try == 5 {
			break
		}
	}
	if lbEdgeRelay && v == nodes[0] {
		t.Fatal("the watch page always reached the room's origin: cannot drain an edge")
	}
	t.Logf("the watch page plays from node %s", v.name)
	// A socket of a client that does not follow `reconnect` keeps the node draining (and a WHIP
	// publisher on it, before the edge relay) until the checks below are done.
	raw, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(v.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var first struct{ Type string }
	if err := raw.ReadJSON(&first); err != nil || first.Type != "hello" {
		t.Fatalf("raw socket: %+v %v", first, err)
	}
	if _, err := chromedp.Run(watch, chromedp.Evaluate[bool](`(window.__lbpc = window.relaycast.pc, true)`)); err != nil {
		t.Fatal(err)
	}

	sigterm := time.Now()
	if err := v.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	down := make(chan time.Duration, 1) // when HAProxy marked the node DOWN
	go func() {
		for deadline := sigterm.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if st, err := lb.State(); err == nil && st[v.name] == "DOWN" {
				down <- time.Since(sigterm)
				return
			}
		}
		down <- -1
	}()
	// /readyz 503 at once.
	var notReady time.Duration
	for deadline := sigterm.Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		if code, err := httpGet(v.url + "/readyz"); err == nil && code == http.StatusServiceUnavailable {
			notReady = time.Since(sigterm)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz of the draining node is not 503 within 1 s of SIGTERM")
		}
	}
	// The page plays again, from another node, through the balancer.
	var again time.Duration
	for deadline := sigterm.Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ok, err := chromedp.Run(watch, chromedp.Evaluate[bool](`window.relaycast.state === "playing" && !!window.relaycast.pc && window.relaycast.pc !== window.__lbpc`))
		if err == nil && ok {
			again = time.Since(sigterm)
			break
		}
		if time.Now().After(deadline) {
			st, _ := chromedp.Run(watch, chromedp.Evaluate[string](`JSON.stringify({state: window.relaycast.state, error: window.relaycast.error})`))
			t.Fatalf("the watch page did not play again within 15 s of SIGTERM: %s", st)
		}
	}
	out := <-down
	if out < 0 || out > 1500*time.Millisecond {
		t.Errorf("HAProxy marked the draining node DOWN after %v: want within 1.5 s of SIGTERM (-1: not within 10 s)", out)
	}
	waitJS(t, watch, 10*time.Second, `window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 30`, "30 frames decoded after the move")
	v2 := pageNode(t, watch, nodes)
	if v2 == v {
		t.Fatalf("the watch page plays from the draining node %s again", v.name)
	}
	t.Logf("SIGTERM → /readyz 503: %v; → HAProxy marks the node DOWN: %v; → the watch page plays again (from node %s): %v",
		notReady.Round(time.Millisecond), out.Round(time.Millisecond), v2.name, again.Round(time.Millisecond))
	if again > 3*time.Second {
		t.Errorf("the viewer watched again %v after SIGTERM: want < 3 s", again.Round(time.Millisecond))
	}
	for range 6 {
		if code, who, err := lb.Served(ctx, http.MethodGet, "/api/rooms"); err != nil || code != 200 || who == v.name {
			t.Errorf("GET /api/rooms through HAProxy after the node went DOWN: %d %v from %q", code, err, who)
		}
	}

	// The draining node: its open socket was told to reconnect; it refuses new sessions.
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	var rc struct{ Type, Reason string }
	if err := raw.ReadJSON(&rc); err != nil || rc.Type != "reconnect" || rc.Reason != "draining" {
		t.Errorf("open socket on the draining node got %+v, %v: want reconnect/draining", rc, err)
	}
	for _, p := range []string{"/whep/" + room, "/whip/" + room} {
		res, err := http.Post(v.url+p, "application/sdp", strings.NewReader("v=0\r\n"))
		if err != nil {
			t.Fatalf("POST %s on the draining node: %v", p, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var body struct{ Error string }
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || json.Unmarshal(b, &body) != nil || body.Error == "" {
			t.Errorf("POST %s on the draining node: %d Retry-After %q %s: want 503, Retry-After and a JSON error", p, res.StatusCode, res.Header.Get("Retry-After"), b)
		}
	}
	if c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(v.url, "http")+"/ws", nil); err != nil {
		t.Errorf("new /ws on the draining node: %v", err)
	} else {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m struct{ Type string }
		err1 := c.ReadJSON(&m)
		_, _, err2 := c.ReadMessage()
		ce, _ := err2.(*websocket.CloseError)
		if err1 != nil || m.Type != "reconnect" || ce == nil || ce.Text != "draining" {
			t.Errorf("new /ws on the draining node: %+v %v, then %v: want reconnect and close reason draining", m, err1, err2)
		}
		_ = c.Close()
	}
	select {
	case <-v.exited:
		t.Fatal("the draining node exited while a session was still open")
	default:
	}
	// Its last sessions leave: the node exits at once, cleanly.
	_ = raw.Close()
	if stop, ok := stops[v.name]; ok {
		stop()
	}
	left := time.Now()
	select {
	case <-v.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the drained node did not exit within 10 s of its last session leaving")
	}
	t.Logf("the drained node exited %v after its last session left (%v after SIGTERM)", time.Since(left).Round(time.Millisecond), time.Since(sigterm).Round(time.Millisecond))
	if code := v.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the drained node exited with %d", code)
	}
	if b, _ := os.ReadFile(v.log); !strings.Contains(string(b), "drained") {
		t.Errorf("the drained node's log does not say it drained")
	}

	// ---- a broadcast page through HAProxy; its node drains ----
	show := "lbshow"
	tok, _ := signer.Issue(show, []auth.Grant{auth.GrantPublish}, time.Hour, "lb-seller")
	pubTab := tab(t, browserCtx)
	if err := chromedp.Do(pubTab, chromedp.Navigate(fmt.Sprintf("%s/broadcast/%s?token=%s&autostart=1", lb.URL, show, tok))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pubTab, 20*time.Second, `window.relaycast && window.relaycast.state === "live"`, "the broadcast page to go live through HAProxy")
	b := pageNode(t, pubTab, nodes)
	if _, err := chromedp.Run(pubTab, chromedp.Evaluate[bool](`(window.__lbpc = window.relaycast.pc, window.__lbstates = [], setInterval(() => { const s = window.relaycast.state; if (window.__lbstates[window.__lbstates.length-1] !== s) window.__lbstates.push(s); }, 20), true)`)); err != nil {
		t.Fatal(err)
	}
	t.Logf("the broadcast page publishes to node %s", b.name)
	sigterm = time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pubTab, 15*time.Second, `window.relaycast.state === "live" && !!window.relaycast.pc && window.relaycast.pc !== window.__lbpc`, "the broadcast page to publish again")
	republished := time.Since(sigterm)
	b2 := pageNode(t, pubTab, nodes)
	states, _ := chromedp.Run(pubTab, chromedp.Evaluate[[]string](`window.__lbstates`))
	t.Logf("SIGTERM → the broadcast page publishes again (to node %s): %v; page states %v", b2.name, republished.Round(time.Millisecond), states)
	if b2 == b {
		t.Fatalf("the broadcast page publishes to the draining node %s again", b.name)
	}
	for _, s := range states {
		if s == "idle" || s == "error" {
			t.Errorf("the broadcast page went %q while moving: the seller would have to start again (states %v)", s, states)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var info struct{ Room string }
		if code, err := call(http.MethodGet, b2.url+"/api/rooms/"+show, "", "", &info); err == nil && code == 200 && info.Room == show {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s is not live on node %s after the move", show, b2.name)
		}
	}
	// The node the seller left has nothing to wait for but a WHIP publisher of room, if it has
	// one: once that is stopped it exits.
	if stop, ok := stops[b.name]; ok {
		stop()
	}
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the second drained node did not exit")
	}
}
