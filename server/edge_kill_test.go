package server_test

import (
	"context"
	"encoding/json"
	"io"
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
	"github.com/relaycast/relaycast/internal/testserver"
)

// TestEdgeOriginKilled: the origin is a real `relaycast serve` process, killed with SIGKILL
// while an in-process edge relays its room to a viewer. The edge notices (its pull's ICE goes
// silent: EdgeParams.ICEDisconnectedTimeout + ICEFailedTimeout), ends its room so the viewer
// gets the normal end, and a later Ensure locates again (nothing left pulled).
func TestEdgeOriginKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	dir := t.TempDir()
	const port = 23110 // this helper's port range
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	srv := exec.Command(bin, "serve", "--http", "127.0.0.1:"+strconv.Itoa(port), "--ice-udp-port", strconv.Itoa(port+1),
		"--ice-loopback", "--rate-limit-ip", "off", "--rate-limit-user", "off", "--record=false", "--data-dir", filepath.Join(dir, "data"), "--auth-secret", testserver.Secret)
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if srv.ProcessState == nil {
			_ = srv.Process.Kill()
			_ = srv.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("--- origin log ---\n%s", b)
		}
	}()
	until(t, 20*time.Second, "origin ready", func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	loc := &mapLocator{m: map[string]cluster.Owner{}}
	loc.set("show", "origin", url)
	edge := edgeNode(t, "edge", loc)

	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tok, err := edge.Signer().Issue("show", []auth.Grant{auth.GrantPublish}, time.Hour, "seller")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Connect(ctx, client.WHIP(nil, url+"/whip/show", tok, nil)); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "origin room live", func() bool { return roomLiveAt(url, "show") })
	v := whepViewer(t, edge, edge.URL()+"/whep/show")
	plays(t, v, "edge viewer")

	if err := srv.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = srv.Wait()
	killed := time.Now()
	select {
	case <-v.Disconnected():
	case <-time.After(15 * time.Second):
		t.Fatal("the edge viewer stayed connected after the origin was killed")
	}
	until(t, 5*time.Second, "edge room ends", func() bool { _, ok := edge.SFU().Room("show"); return !ok })
	t.Logf("edge room ended %s after the origin's SIGKILL", time.Since(killed).Round(10*time.Millisecond))
	if d := time.Since(killed); d > 10*time.Second {
		t.Errorf("the edge took %s to notice the origin died", d)
	}
}

// roomLiveAt reports whether base's GET /api/rooms/{room} shows the room live with its tracks
// (a lease alone answers 200 without codecs).
func roomLiveAt(base, room string) bool {
	resp, err := http.Get(base + "/api/rooms/" + room)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var info struct {
		Codecs []string `json:"codecs"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&info) == nil && len(info.Codecs) > 0
}
