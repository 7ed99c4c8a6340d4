package hlsfeed

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/livehls"
	"github.com/relaycast/relaycast/sfu"
)

// liveHLS is the real packager behind an HTTP server on loopback (a port of 31000–31999).
type liveHLS struct {
	srv  *livehls.Server
	base string // http://127.0.0.1:port
}

func newLiveHLS(t *testing.T) *liveHLS {
	t.Helper()
	srv := livehls.NewServer(livehls.ServerConfig{})
	var ln net.Listener
	var err error
	for port := 31000 + int(time.Now().UnixNano()%500); port < 32000; port++ {
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
	}
	if ln == nil {
		t.Fatalf("no port in 31000-31999: %v", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); _ = srv.Close() })
	return &liveHLS{srv: srv, base: "http://" + ln.Addr().String()}
}

// playlist fetches and parses a playlist (nil with the body when the answer is not 200).
func (l *liveHLS) playlist(t *testing.T, path string) (playlist.Playlist, []byte) {
	t.Helper()
	resp, err := http.Get(l.base + path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, b
	}
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", path, err, b)
	}
	return pl, b
}

// multivariant returns the room's multivariant playlist (nil while it has no media).
func (l *liveHLS) multivariant(t *testing.T, room string) *playlist.Multivariant {
	t.Helper()
	pl, _ := l.playlist(t, "/live/"+room+"/index.m3u8")
	mv, _ := pl.(*playlist.Multivariant)
	return mv
}

// media returns a rendition's media playlist, parsed, and its text.
func (l *liveHLS) media(t *testing.T, room, name string) (*playlist.Media, []byte) {
	t.Helper()
	pl, b := l.playlist(t, "/live/"+room+"/"+name+"/index.m3u8")
	m, ok := pl.(*playlist.Media)
	if !ok {
		t.Fatalf("%s: no media playlist: %s", name, b)
	}
	return m, b
}

// ready reports whether the multivariant playlist lists exactly the renditions names and each
// has complete segments of at least d.
func (l *liveHLS) ready(t *testing.T, room string, d time.Duration, names ...string) bool {
	t.Helper()
	if mv := l.multivariant(t, room); mv == nil || len(mv.Variants) != len(names) {
		return false
	}
	for _, name := range names {
		m, _ := l.media(t, room, name)
		var sum time.Duration
		for _, sg := range m.Segments {
			sum += sg.Duration
		}
		if sum < d {
			return false
		}
	}
	return true
}

// renditions maps each rendition's URI (its name) to its RESOLUTION.
func renditions(mv *playlist.Multivariant) map[string]string {
	out := map[string]string{}
	for _, v := range mv.Variants {
		out[strings.TrimSuffix(v.URI, "/index.m3u8")] = v.Resolution
	}
	return out
}

// probeRendition decodes a rendition's playlist with ffprobe (every segment, init sections
// included) and checks its picture size and that it has video and audio.
func (l *liveHLS) probeRendition(t *testing.T, room, name string, w, h int) {
	t.Helper()
	r, err := testmedia.Probe(l.base + "/live/" + room + "/" + name + "/index.m3u8")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Logf("%s: %+v", name, r)
	if !r.Video || !r.Audio || r.Width != w || r.Height != h || r.VideoFrames < 30 {
		t.Fatalf("%s: ffprobe says %+v, want %dx%d video with audio", name, r, w, h)
	}
}

// VP9 and AV1 sources get the ladder like VP8: their size is read from the key frame (VP9's
// uncompressed header, AV1's sequence header), so a 720p source gets its 360p rung; the
// multivariant playlist lists both and each decodes at its own height.
func TestTranscodeVP9AV1Ladder(t *testing.T) {
	for _, codec := range []string{testmedia.CodecVP9, testmedia.CodecAV1} {
		t.Run(codec, func(t *testing.T) {
			c := newClip(t, codec, "1280x720", 3*time.Second, 30)
			lh := newLiveHLS(t)
			f := New(Params{Packager: LiveHLS(lh.srv), Ladder: []int{360}, QueueFrames: 4096,
				Stream: livehls.Config{SegmentTarget: time.Second, PartTarget: 250 * time.Millisecond}})
			t.Cleanup(func() { _ = f.Close() })
			room := "ladder-" + codec
			sink := f.OnLive(c.room(room))
			c.play(t, sink, 0, nil)
			rs := sink.(*roomSink)
			rs.mu.Lock()
			sp := rs.tc.spec
			rs.mu.Unlock()
			if sp.w != 1280 || sp.h != 720 || len(sp.outs) != 2 || sp.outs[1].name != "360p" {
				t.Fatalf("transcoder spec %+v: want 1280x720 in, src + 360p out", sp)
			}
			// Both renditions have the clip's last segment complete (ffmpeg is done with it).
			waitFor(t, 60*time.Second, "both renditions to 2 s", func() bool { return lh.ready(t, room, 2*time.Second, "src", "360p") })
			_ = sink.Close() // ENDLIST: ffprobe reads the playlists as they stand
			got := renditions(lh.multivariant(t, room))
			if len(got) != 2 || got["src"] != "1280x720" || got["360p"] != "640x360" {
				t.Fatalf("multivariant renditions %v, want src 1280x720 and 360p 640x360", got)
			}
			for _, name := range []string{"src", "360p"} {
				if _, b := lh.media(t, room, name); !strings.Contains(string(b), "#EXT-X-ENDLIST") {
					t.Fatalf("%s: no ENDLIST after the end:\n%s", name, b)
				}
			}
			lh.probeRendition(t, room, "src", 1280, 720)
			lh.probeRendition(t, room, "360p", 640, 360)
		})
	}
}

// The room's ffmpeg killed mid-show (SIGKILL) is restarted and the live playlist goes on: the
// next segment carries EXT-X-DISCONTINUITY, media keeps coming after it, the playlist parses,
// and the rendition still decodes end to end.
func TestTranscoderKilledPlaylistGoesOn(t *testing.T) {
	c := newClip(t, testmedia.CodecVP8, "320x240", 6*time.Second, 15)
	lh := newLiveHLS(t)
	f := New(Params{Packager: LiveHLS(lh.srv), RestartBackoff: 100 * time.Millisecond, QueueFrames: 4096,
		Stream: livehls.Config{SegmentTarget: time.Second, PartTarget: 250 * time.Millisecond}})
	t.Cleanup(func() { _ = f.Close() })
	room := "killed"
	sink := f.OnLive(c.room(room))
	done := make(chan struct{})
	go func() { defer close(done); c.play(t, sink, 1.5, nil) }()
	segments := func() []*playlist.MediaSegment {
		if lh.multivariant(t, room) == nil {
			return nil
		}
		m, _ := lh.media(t, room, "src")
		return m.Segments
	}
	waitFor(t, 15*time.Second, "two segments", func() bool { return len(segments()) >= 2 })
	pid := f.TranscoderPID(room)
	if pid == 0 {
		t.Fatal("no ffmpeg")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a new ffmpeg", func() bool { p := f.TranscoderPID(room); return p != 0 && p != pid })
	// Two whole segments after the discontinuity: the playlist went on.
	waitFor(t, 15*time.Second, "segments after the discontinuity", func() bool {
		after := -1
		for i, s := range segments() {
			if s.Discontinuity {
				after = i
			}
		}
		return after > 0 && len(segments())-after >= 2
	})
	<-done
	_ = sink.Close()
	m, body := lh.media(t, room, "src")
	if n := strings.Count(string(body), "#EXT-X-DISCONTINUITY\n"); n != 1 || !m.Endlist {
		t.Fatalf("%d discontinuities, endlist %v:\n%s", n, m.Endlist, body)
	}
	if m.DiscontinuitySequence != nil && *m.DiscontinuitySequence != 0 {
		t.Fatalf("discontinuity sequence %d with the whole show in the window", *m.DiscontinuitySequence)
	}
	if f.Stats().Restarts != 1 {
		t.Fatalf("restarts %d", f.Stats().Restarts)
	}
	lh.probeRendition(t, room, "src", 320, 240)
}

// An H.264 simulcast publisher (three RID layers of real x264 video, 1280x720, 640x360 and
// 320x180, through a real SFU): every layer is its own rendition, copied like `src` — the
// multivariant playlist lists three, each decodes at its own height, each media playlist
// reports the others — and the room's ffmpeg makes only the AAC (no libx264 in its command line).
func TestSimulcastH264LayersCopied(t *testing.T) {
	var layers []string
	var audio string
	for _, size := range []string{"320x180", "640x360", "1280x720"} { // q, h, f
		c := newClip(t, testmedia.CodecH264, size, 4*time.Second, 30)
		layers, audio = append(layers, c.files[0]), c.files[1]
	}
	loop, err := client.H264SimulcastLoop(layers, audio)
	if err != nil {
		t.Fatal(err)
	}
	lh := newLiveHLS(t)
	f := New(Params{Packager: LiveHLS(lh.srv), Ladder: []int{360}, QueueFrames: 4096,
		Stream: livehls.Config{SegmentTarget: time.Second, PartTarget: 250 * time.Millisecond}})
	t.Cleanup(func() { _ = f.Close() })
	s, err := sfu.New(sfu.Config{Loopback: true, OnLive: f.OnLive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, Simulcast: true,
		VideoMime: webrtc.MimeTypeH264, KeyframesOnRequest: true, Media: loop})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const room = "sim264"
	if err := pub.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, ans, err := s.Publish(ctx, sfu.PublishParams{Room: room, Offer: offer, Owner: "o"})
		return ans, err
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"src": "1280x720", "360p": "640x360", "180p": "320x180"}
	waitFor(t, 30*time.Second, "three renditions with 3 s each", func() bool { return lh.ready(t, room, 3*time.Second, "src", "360p", "180p") })
	pid := f.TranscoderPID(room)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if pid == 0 || err != nil {
		t.Fatalf("no ffmpeg for the audio (pid %d): %v", pid, err)
	}
	if args := strings.ReplaceAll(string(cmdline), "\x00", " "); strings.Contains(args, "libx264") || !strings.Contains(args, "-c:a aac") {
		t.Fatalf("the room's ffmpeg is not audio only: %s", args)
	}
	if got := renditions(lh.multivariant(t, room)); !reflect.DeepEqual(got, want) {
		t.Fatalf("renditions %v, want %v", got, want)
	}
	for name := range want {
		_, b := lh.media(t, room, name)
		for other := range want {
			if other != name && !strings.Contains(string(b), `#EXT-X-RENDITION-REPORT:URI="../`+other+`/index.m3u8"`) {
				t.Errorf("%s: no rendition report of %s:\n%s", name, other, b)
			}
		}
	}
	_ = pub.Close()
	waitFor(t, 15*time.Second, "the end of the show", func() bool {
		m, _ := lh.media(t, room, "180p")
		return m.Endlist
	})
	for name, res := range want {
		var w, h int
		if _, err := fmt.Sscanf(res, "%dx%d", &w, &h); err != nil {
			t.Fatal(err)
		}
		lh.probeRendition(t, room, name, w, h)
	}
}
