// Command viewermem measures a running relaycast server's memory per viewer (issue 16): it
// publishes one room over WHIP (Pion, a VP8 and an Opus track), joins N lean viewers over WHEP
// (Pion ICE/DTLS on loopback, client.Viewer with Lean), and at each N in -steps reads the server's
// RSS (/proc/PID/status), its Go heap and stacks and goroutines (/metrics) after a forced GC
// (pprof heap?gc=1, which also saves the heap profile), and prints the slope per viewer between
// consecutive steps.
//
// -media=false (idle): the publisher sends one second of media (so every viewer's room is live
// and has its tracks), then nothing while the viewers join and are measured: an idle viewer is
// connected with ICE/DTLS up and no media in flight. -media=true keeps a 300 kbps loop going.
//
// Run by loadtest/viewer-mem.sh, which starts the server; by hand:
//
//	RELAYCAST_PPROF=127.0.0.1:32082 relaycast serve --ice-loopback --http 127.0.0.1:32080 ... &
//	go run ./loadtest/viewermem -url http://127.0.0.1:32080 -token T -pid PID -pprof 127.0.0.1:32082 -steps 100,500
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/relaycast/relaycast/client"
)

type sample struct {
	Viewers    int     `json:"viewers"`
	Connected  int     `json:"connected"`
	RSSKiB     int64   `json:"rss_kib"`
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	HeapLive   float64 `json:"heap_live_bytes"`
	StackInuse float64 `json:"stack_inuse_bytes"`
	Sys        float64 `json:"sys_bytes"`
	Goroutines float64 `json:"goroutines"`
	Threads    int     `json:"threads"`
}

func main() {
	url := flag.String("url", "http://127.0.0.1:32080", "server base URL")
	token := flag.String("token", "", "publish + watch token (relaycast token --room '*' --admin)")
	room := flag.String("room", "mem", "room name (with -rooms > 1: ROOM-1 … ROOM-N, the viewers spread over them)")
	rooms := flag.Int("rooms", 1, "rooms, each with its own publisher; the server is also sampled before any is published, for the memory per room")
	pid := flag.Int("pid", 0, "server process id (RSS from /proc/PID/status)")
	pprofAddr := flag.String("pprof", "", "server's RELAYCAST_PPROF host:port (forced GC + heap profile per step; empty: no GC, no profile)")
	steps := flag.String("steps", "100,500", "viewer counts to measure at, ascending")
	withMedia := flag.Bool("media", false, "keep the publisher sending (300 kbps VP8 noise + Opus-sized audio) instead of idle")
	settle := flag.Duration("settle", 6*time.Second, "wait after the last join of a step before sampling")
	out := flag.String("out", "", "directory for heap/goroutine profiles and samples.json (empty: none)")
	inflight := flag.Int("in-flight", 16, "concurrent joins")
	flag.Parse()
	if *pid == 0 {
		fail(fmt.Errorf("-pid is required"))
	}
	var ns []int
	for _, f := range strings.Split(*steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || (len(ns) > 0 && n <= ns[len(ns)-1]) {
			fail(fmt.Errorf("-steps %q: ascending counts", *steps))
		}
		ns = append(ns, n)
	}
	ctx := context.Background()
	if *rooms < 1 {
		fail(fmt.Errorf("-rooms %d: at least 1", *rooms))
	}
	names := []string{*room}
	if *rooms > 1 {
		names = names[:0]
		for i := 1; i <= *rooms; i++ {
			names = append(names, fmt.Sprintf("%s-%d", *room, i))
		}
	}
	empty := measure(*url, *pid, *pprofAddr, *out, -1)
	fmt.Printf("no rooms: rss_kib=%d heap_inuse_mib=%.1f heap_live_mib=%.1f stack_inuse_mib=%.1f goroutines=%.0f\n",
		empty.RSSKiB, empty.HeapInuse/(1<<20), empty.HeapLive/(1<<20), empty.StackInuse/(1<<20), empty.Goroutines)
	for _, name := range names {
		pub, err := publish(ctx, *url+"/whip/"+name, *token, *withMedia)
		if err != nil {
			fail(fmt.Errorf("publish %s: %w", name, err))
		}
		defer pub.close()
	}
	time.Sleep(1500 * time.Millisecond) // the idle publishers have sent their second and stopped

	var (
		mu      sync.Mutex
		viewers []*client.Viewer
		joined  atomic.Int64
		failed  atomic.Int64
	)
	hc := &http.Client{Timeout: 20 * time.Second}
	var samples []sample
	for _, n := range ns {
		sem := make(chan struct{}, *inflight)
		var wg sync.WaitGroup
		for i := len(viewers); i < n; i++ {
			name := names[i%len(names)]
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, Lean: true})
				if err != nil {
					failed.Add(1)
					return
				}
				var loc string
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				err = v.Connect(cctx, client.WHIP(hc, *url+"/whep/"+name, *token, &loc))
				cancel()
				mu.Lock()
				viewers = append(viewers, v)
				mu.Unlock()
				if err != nil {
					failed.Add(1)
					return
				}
				joined.Add(1)
			}()
		}
		wg.Wait()
		time.Sleep(*settle)
		s := measure(*url, *pid, *pprofAddr, *out, n)
		s.Connected = int(joined.Load())
		samples = append(samples, s)
		fmt.Printf("viewers=%d connected=%d failed=%d rss_kib=%d heap_inuse_mib=%.1f heap_live_mib=%.1f stack_inuse_mib=%.1f sys_mib=%.1f goroutines=%.0f threads=%d\n",
			n, s.Connected, failed.Load(), s.RSSKiB, s.HeapInuse/(1<<20), s.HeapLive/(1<<20), s.StackInuse/(1<<20), s.Sys/(1<<20), s.Goroutines, s.Threads)
	}
	if len(samples) > 0 && samples[0].Viewers == 0 {
		a, b, dn := empty, samples[0], float64(len(names))
		fmt.Printf("per room (publisher, %s, no viewers) over %d rooms: rss %.1f KiB, heap in use %.1f KiB, live heap %.1f KiB, stacks %.1f KiB, goroutines %.2f\n",
			map[bool]string{true: "media flowing", false: "idle"}[*withMedia], len(names),
			float64(b.RSSKiB-a.RSSKiB)/dn, (b.HeapInuse-a.HeapInuse)/1024/dn, (b.HeapLive-a.HeapLive)/1024/dn,
			(b.StackInuse-a.StackInuse)/1024/dn, (b.Goroutines-a.Goroutines)/dn)
	}
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		dn := float64(b.Connected - a.Connected)
		if dn <= 0 {
			continue
		}
		fmt.Printf("per viewer %d→%d (%s): rss %.1f KiB, heap in use %.1f KiB, live heap %.1f KiB, stacks %.1f KiB, goroutines %.2f\n",
			a.Connected, b.Connected, map[bool]string{true: "media flowing", false: "idle"}[*withMedia],
			float64(b.RSSKiB-a.RSSKiB)/dn, (b.HeapInuse-a.HeapInuse)/1024/dn, (b.HeapLive-a.HeapLive)/1024/dn,
			(b.StackInuse-a.StackInuse)/1024/dn, (b.Goroutines-a.Goroutines)/dn)
	}
	if *out != "" {
		if data, err := json.MarshalIndent(samples, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(*out, "samples.json"), data, 0o644)
		}
	}
	for _, v := range viewers {
		_ = v.Close()
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "viewermem:", err)
	os.Exit(1)
}

// measure forces a GC through pprof (when given), then reads /proc and /metrics.
func measure(url string, pid int, pprofAddr, out string, n int) sample {
	s := sample{Viewers: n}
	if pprofAddr != "" {
		save := func(path, name string) {
			resp, err := http.Get("http://" + pprofAddr + path)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if out == "" {
				_, _ = io.Copy(io.Discard, resp.Body)
				return
			}
			f, err := os.Create(filepath.Join(out, name))
			if err != nil {
				return
			}
			_, _ = io.Copy(f, resp.Body)
			_ = f.Close()
		}
		tag := strconv.Itoa(n)
		if n < 0 {
			tag = "norooms"
		}
		save("/debug/pprof/heap?gc=1", "heap-"+tag+".pb.gz")
		save("/debug/pprof/goroutine", "goroutine-"+tag+".pb.gz")
		time.Sleep(500 * time.Millisecond)
	}
	if f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				s.RSSKiB, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			}
		}
		_ = f.Close()
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err == nil {
		s.Threads = len(ents)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "go_memstats_heap_inuse_bytes":
			s.HeapInuse = v
		case "go_gc_heap_live_bytes":
			s.HeapLive = v
		case "go_memstats_stack_inuse_bytes":
			s.StackInuse = v
		case "go_memstats_sys_bytes":
			s.Sys = v
		case "go_goroutines":
			s.Goroutines = v
		}
	}
	return s
}

// publisher is a Pion publisher of a VP8 and an Opus track whose media stops after a second
// unless it was asked to keep sending.
type publisher struct {
	pc   *webrtc.PeerConnection
	stop chan struct{}
	wg   sync.WaitGroup
}

func (p *publisher) close() {
	close(p.stop)
	p.wg.Wait()
	_ = p.pc.Close()
}

func publish(ctx context.Context, url, token string, keep bool) (*publisher, error) {
	api, err := client.NewAPI(client.Config{Loopback: true})
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &publisher{pc: pc, stop: make(chan struct{})}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "mem")
	if err != nil {
		return nil, err
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "mem")
	if err != nil {
		return nil, err
	}
	for _, t := range []webrtc.TrackLocal{video, audio} {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := tr.Sender().Read(buf); err != nil {
					return
				}
			}
		}()
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-gathered
	var loc string
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	answer, err := client.WHIP(nil, url, token, &loc)(cctx, pc.LocalDescription().SDP)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		_ = pc.Close()
		return nil, err
	}
	select {
	case <-connected:
	case <-cctx.Done():
		_ = pc.Close()
		return nil, fmt.Errorf("publisher not connected: %w", cctx.Err())
	}
	p.wg.Add(1)
	go p.send(video, audio, keep)
	return p, nil
}

// send writes 30 frames/s of VP8-shaped noise (a keyframe every 2 s; 300 kbps) and 20 ms audio
// packets, for one second or until stop when keep.
func (p *publisher) send(video, audio *webrtc.TrackLocalStaticSample, keep bool) {
	defer p.wg.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	var frames int
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		el := time.Since(start)
		if !keep && el > time.Second {
			return
		}
		_ = audio.WriteSample(media.Sample{Data: noise(80), Duration: 20 * time.Millisecond})
		for frames*1000/30 < int(el.Milliseconds()) {
			key := frames%60 == 0
			f := noise(300_000 / 8 / 30)
			if key {
				f = noise(300_000 / 8 / 30 * 3)
			}
			vp8Header(f, key)
			_ = video.WriteSample(media.Sample{Data: f, Duration: time.Second / 30})
			frames++
		}
	}
}

func noise(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// vp8Header makes f start like a VP8 frame (RFC 6386 §9.1): the key-frame bit, and for a
// keyframe the start code and a 640×360 size, so the server's keyframe detection finds it.
func vp8Header(f []byte, key bool) {
	if key {
		f[0] &^= 1
		f[3], f[4], f[5] = 0x9d, 0x01, 0x2a
		f[6], f[7], f[8], f[9] = 640&0xff, 640>>8, 360&0xff, 360>>8
		return
	}
	f[0] |= 1
}
