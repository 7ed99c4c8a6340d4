package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/cluster"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/sfu"
)

// The measurements of docs/CLUSTER.md, "Edges" (not run by default: they stream for a while and
// measure CPU). RELAYCAST_EDGE_MEASURE=1 go test -count=1 -v -run 'TestEdgeMeasure' ./server/

// frameClock is a Pion viewer that notes, per video RTP timestamp, when the frame's last packet
// (marker bit) arrived. A plain (non-simulcast) room forwards RTP timestamps unchanged through
// every hop, so the same frame can be matched at the origin and at each edge.
type frameClock struct {
	pc *webrtc.PeerConnection
	mu sync.Mutex
	at map[uint32]time.Time
	wg sync.WaitGroup
}

func newFrameClock(t *testing.T, srv interface{ URL() string }, signer *auth.Signer) *frameClock {
	t.Helper()
	api, err := client.NewAPI(client.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	f := &frameClock{pc: pc, at: map[uint32]time.Time{}}
	t.Cleanup(func() { _ = pc.Close(); f.wg.Wait() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				if tr.Kind() == webrtc.RTPCodecTypeVideo && p.Marker {
					now := time.Now()
					f.mu.Lock()
					f.at[p.Timestamp] = now
					f.mu.Unlock()
				}
			}
		}()
	})
	tok, _ := signer.Issue("show", []auth.Grant{auth.GrantSubscribe}, time.Hour, "probe")
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	offer := localSDP(t, pc)
	answer, err := client.WHIP(nil, srv.URL()+"/whep/show", tok, nil)(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("probe did not connect")
	}
	return f
}

func localSDP(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}

// hop is the arrival delay of each frame at b after a, for the frames both saw.
func hop(a, b *frameClock) []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []time.Duration
	for ts, ta := range a.at {
		if tb, ok := b.at[ts]; ok {
			out = append(out, tb.Sub(ta))
		}
	}
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

func measuring(t *testing.T) {
	if os.Getenv("RELAYCAST_EDGE_MEASURE") == "" {
		t.Skip("a measurement: set RELAYCAST_EDGE_MEASURE=1")
	}
}

// TestEdgeMeasureHopLatency: extra forwarding latency per hop, origin → edge 1 → edge 2, three
// in-process servers on loopback: per video frame, the arrival of its last packet at a viewer of
// the next node minus at a viewer of the previous one (same RTP timestamp).
func TestEdgeMeasureHopLatency(t *testing.T) {
	measuring(t)
	locO, loc1, loc2 := &mapLocator{m: map[string]cluster.Owner{}}, &mapLocator{m: map[string]cluster.Owner{}}, &mapLocator{m: map[string]cluster.Owner{}}
	origin, edge1, edge2 := edgeNode(t, "origin", locO), edgeNode(t, "edge1", loc1), edgeNode(t, "edge2", loc2)
	loc1.set("show", "origin", origin.URL())
	loc2.set("show", "edge1", edge1.URL())
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, Bitrate: 1_500_000})
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
	a := newFrameClock(t, origin, origin.Signer())
	b := newFrameClock(t, edge1, origin.Signer())
	c := newFrameClock(t, edge2, origin.Signer())
	d := 20 * time.Second
	if s, err := time.ParseDuration(os.Getenv("RELAYCAST_EDGE_MEASURE_FOR")); err == nil {
		d = s
	}
	time.Sleep(d)
	for _, h := range []struct {
		name string
		d    []time.Duration
	}{{"origin → edge 1", hop(a, b)}, {"edge 1 → edge 2", hop(b, c)}} {
		t.Logf("%s: %d frames, extra latency p50 %s p90 %s p99 %s max %s", h.name, len(h.d),
			pct(h.d, 0.5).Round(10*time.Microsecond), pct(h.d, 0.9).Round(10*time.Microsecond),
			pct(h.d, 0.99).Round(10*time.Microsecond), pct(h.d, 1).Round(10*time.Microsecond))
		if len(h.d) < int(d.Seconds())*20 {
			t.Errorf("%s: only %d frames matched", h.name, len(h.d))
		}
	}
}

// TestEdgeMeasureOriginCPU: the origin is a `relaycast serve` process; its CPU (utime + stime
// from /proc) while it sends one room to k viewers, then to k edges (in-process cluster.Edge
// pulls, each with its own SFU), for the same time.
func TestEdgeMeasureOriginCPU(t *testing.T) {
	measuring(t)
	k := 4
	if n, err := strconv.Atoi(os.Getenv("RELAYCAST_EDGE_MEASURE_K")); err == nil && n > 0 {
		k = n
	}
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	const port = 23120
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	dir := t.TempDir()
	srv := exec.Command(bin, "serve", "--http", "127.0.0.1:"+strconv.Itoa(port), "--ice-udp-port", strconv.Itoa(port+1),
		"--ice-loopback", "--rate-limit-ip", "off", "--rate-limit-user", "off", "--record=false", "--data-dir", dir, "--auth-secret", testserver.Secret)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	until(t, 20*time.Second, "origin ready", func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	signer, err := auth.NewSigner([]byte(testserver.Secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, simulcast := range []bool{false, true} {
		room := "show"
		if simulcast {
			room = "sim"
		}
		pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, Simulcast: simulcast, Bitrate: 1_500_000})
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := signer.Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := pub.Connect(ctx, client.WHIP(nil, url+"/whip/"+room, tok, nil)); err != nil {
			t.Fatal(err)
		}
		cancel()
		until(t, 10*time.Second, "origin live", func() bool { return roomLiveAt(url, room) })
		base := originCPU(t, srv.Process.Pid) // the publisher alone (layer rates measured meanwhile)

		var closers []func()
		for range k {
			v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			if err := v.Connect(ctx, client.WHIP(nil, url+"/whep/"+room, "", nil)); err != nil {
				t.Fatal(err)
			}
			cancel()
			closers = append(closers, func() { _ = v.Close() })
		}
		viewers := originCPU(t, srv.Process.Pid)
		for _, c := range closers {
			c()
		}
		closers = nil
		time.Sleep(2 * time.Second)

		loc := &mapLocator{m: map[string]cluster.Owner{}}
		loc.set(room, "origin", url)
		for i := range k {
			s, err := sfu.New(sfu.Config{Loopback: true})
			if err != nil {
				t.Fatal(err)
			}
			e, err := cluster.NewEdge(cluster.EdgeParams{Locator: loc, SFU: s, Self: fmt.Sprintf("edge%d", i), Loopback: true, Linger: time.Hour,
				Token: func() (string, error) {
					return signer.Issue(auth.AnyRoom, []auth.Grant{auth.GrantRelay}, time.Hour, "node:edge")
				}})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Ensure(context.Background(), room); err != nil {
				t.Fatal(err)
			}
			closers = append(closers, func() { _ = e.Close(); _ = s.Close() })
		}
		edges := originCPU(t, srv.Process.Pid)
		for _, c := range closers {
			c()
		}
		_ = pub.Close()
		t.Logf("simulcast=%v: origin CPU (%% of a core) publisher alone %.1f%%, with %d viewers %.1f%%, with %d edges %.1f%%: per viewer %.2f%%, per edge %.2f%% (ratio %.2f)",
			simulcast, base*100, k, viewers*100, k, edges*100, (viewers-base)*100/float64(k), (edges-base)*100/float64(k), (edges-base)/(viewers-base))
		time.Sleep(time.Second)
	}
}

// originCPU is the process's CPU use (cores) over 10 s, from /proc/pid/stat.
func originCPU(t *testing.T, pid int) float64 {
	t.Helper()
	read := func() float64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		return (u + k) / 100 // USER_HZ
	}
	time.Sleep(2 * time.Second)
	c0, t0 := read(), time.Now()
	time.Sleep(10 * time.Second)
	return (read() - c0) / time.Since(t0).Seconds()
}
