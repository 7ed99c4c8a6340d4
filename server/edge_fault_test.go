package server_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/cluster"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
)

// serveProc is a `relaycast serve` process of a cluster on redisURL (no recording).
type serveProc struct {
	cmd *exec.Cmd
	url string
	log string
}

func startServe(t *testing.T, bin, redisURL string, port int) *serveProc {
	t.Helper()
	dir := t.TempDir()
	p := &serveProc{url: "http://127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(dir, "serve.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logf.Close() })
	p.cmd = exec.Command(bin, "serve", "--http", "127.0.0.1:"+strconv.Itoa(port), "--ice-udp-port", strconv.Itoa(port+1),
		"--ice-loopback", "--rate-limit-ip", "off", "--rate-limit-user", "off", "--record=false", "--redis-url", redisURL, "--node-id", "proc-"+strconv.Itoa(port),
		"--data-dir", filepath.Join(dir, "data"), "--auth-secret", testserver.Secret)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("--- %s log ---\n%s", p.url, b)
		}
	})
	until(t, 20*time.Second, "serve ready", func() bool {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func (p *serveProc) kill(t *testing.T) time.Time {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	return time.Now()
}

func buildRelaycast(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin
}

// The cluster's faults at the edge, with a real Redis and real processes (SIGKILL):
//   - the origin killed mid-broadcast: the edge's room ends, the seller publishes again to
//     another node (the takeover waits for the dead owner to lapse), and a viewer on the edge
//     plays again through a new pull from the new owner — the time from the kill is logged;
//   - an edge killed: the origin notices (its relay subscriber's ICE fails) and stops sending.
func TestEdgeFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills server processes")
	}
	redisURL := testserver.RedisURL(t, 12)
	bin := buildRelaycast(t)
	mutate := func(c *config.Config) { c.Record = false; c.RedisURL = redisURL }
	seller, _ := auth.NewSigner([]byte(testserver.Secret))
	tok, _ := seller.Issue("big", []auth.Grant{auth.GrantPublish}, time.Hour, "seller")
	publish := func(url string) *client.Publisher {
		t.Helper()
		pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, Simulcast: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pub.Close() })
		if err := pub.Connect(ctxT(t), client.WHIP(nil, url+"/whip/big", tok, nil)); err != nil {
			t.Fatalf("publish to %s: %v", url, err)
		}
		until(t, 10*time.Second, "live at "+url, func() bool { return roomLiveAt(url, "big") })
		return pub
	}

	t.Run("origin killed", func(t *testing.T) {
		origin := startServe(t, bin, redisURL, 23140)
		b, edge := start(t, mutate), start(t, mutate)
		waitFor(t, 5*time.Second, "three members", func() bool { n, _ := edge.Cluster().Nodes(context.Background()); return len(n) == 3 })
		pub := publish(origin.url)
		v, _, err := whepWatch(t, edge, "big", "")
		if err != nil {
			t.Fatal(err)
		}
		plays(t, v, "edge viewer")
		edgeEvents, unwatch := edge.SFU().Watch("big")
		defer unwatch()

		killed := origin.kill(t)
		_ = pub.Close()
		select {
		case <-v.Disconnected():
		case <-time.After(10 * time.Second):
			t.Fatal("the edge viewer stayed connected after the origin was killed")
		}
		ended := time.Since(killed)
		// The edge's viewers are told the show goes on (they wait for `live`), not that it ended.
		if why := waitEnded(t, edgeEvents); why != cluster.ReasonOriginLost {
			t.Errorf("the edge's room ended with %q after its origin's SIGKILL, want %q", why, cluster.ReasonOriginLost)
		}
		publish(b.url) // the seller's page reconnecting through the balancer to B
		moved := time.Since(killed)
		v2, _, err := whepWatch(t, edge, "big", "")
		if err != nil {
			t.Fatalf("the edge viewer reconnecting: %v", err)
		}
		plays(t, v2, "edge viewer after the move")
		t.Logf("origin SIGKILL → edge room ended %s, seller live on B %s, edge viewer playing again %s",
			ended.Round(10*time.Millisecond), moved.Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond))
		if info, _ := b.SFU().Room("big"); info.Edges != 1 {
			t.Errorf("the new origin: %+v, want 1 edge", info)
		}
	})

	t.Run("edge killed", func(t *testing.T) {
		origin := start(t, mutate)
		edge := startServe(t, bin, redisURL, 23150)
		waitFor(t, 5*time.Second, "edge member", func() bool {
			n, _ := origin.Cluster().Nodes(context.Background())
			for _, x := range n {
				if x.URL == edge.url {
					return true
				}
			}
			return false
		})
		publish(origin.url)
		v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if err := v.Connect(ctxT(t), client.WHIP(nil, edge.url+"/whep/big", "", nil)); err != nil {
			t.Fatal(err)
		}
		plays(t, v, "edge process viewer")
		if info, _ := origin.SFU().Room("big"); info.Edges != 1 {
			t.Fatalf("origin with the edge process pulling: %+v", info)
		}
		killed := edge.kill(t)
		until(t, 15*time.Second, "origin drops the killed edge", func() bool { info, _ := origin.SFU().Room("big"); return info.Edges == 0 })
		t.Logf("edge SIGKILL → the origin stopped sending to it after %s", time.Since(killed).Round(10*time.Millisecond))
	})
}
