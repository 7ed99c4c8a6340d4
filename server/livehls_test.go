package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
)

// liveHLSConfig: no recording (live HLS does not need it), 1 s segments, the given ladder.
func liveHLSConfig(ladder string) func(*config.Config) {
	return func(c *config.Config) {
		c.Record = false
		c.LiveHLSLadder = ladder
		c.LiveHLSSegment = time.Second
		c.LiveHLSLinger = 20 * time.Second
	}
}

// liveClip makes a clip (codec, WxH, 1 s GOP) with Opus audio.
func liveClip(t *testing.T, codec, size string, d time.Duration) (string, string) {
	t.Helper()
	testmedia.NeedFFmpeg(t)
	v, a, err := testmedia.Generate(testmedia.Params{Dir: t.TempDir(), Duration: d, Size: size, Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	return v, a
}

// publishLoop publishes the files over WHIP, looping, and returns a stop that ends the
// broadcast (WHIP DELETE).
func publishLoop(t *testing.T, s *testServer, room, v, a string) func() {
	t.Helper()
	pub, err := client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: v, Audio: a, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	tok := s.token(t, room, auth.GrantPublish)
	var loc string
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, client.WHIP(nil, s.url+"/whip/"+room, tok, &loc)); err != nil {
		t.Fatal(err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Delete(ctx, nil, loc, tok)
		_ = pub.Close()
	}
}

// fetch GETs u with an optional bearer token.
func fetch(t *testing.T, u, token string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// waitMultivariant polls /live/{room}/index.m3u8 until it parses with n variants.
func waitMultivariant(t *testing.T, base, room string, n int, d time.Duration) *playlist.Multivariant {
	t.Helper()
	var mv playlist.Multivariant
	waitFor(t, d, "the multivariant playlist", func() bool {
		code, b, _ := fetch(t, base+"/live/"+room+"/index.m3u8", "")
		if code != http.StatusOK {
			return false
		}
		mv = playlist.Multivariant{}
		return mv.Unmarshal(b) == nil && len(mv.Variants) >= n
	})
	return &mv
}

// mediaPlaylist fetches and parses a variant's media playlist (relative to the multivariant).
func mediaPlaylist(t *testing.T, base, room, uri string) (*playlist.Media, string, string) {
	t.Helper()
	u := resolve(t, base+"/live/"+room+"/index.m3u8", uri)
	code, b, _ := fetch(t, u, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, code, b)
	}
	var m playlist.Media
	if err := m.Unmarshal(b); err != nil {
		t.Fatalf("media playlist: %v\n%s", err, b)
	}
	return &m, u, string(b)
}

// waitSegments polls a media playlist until it has n segments.
func waitSegments(t *testing.T, base, room, uri string, n int, d time.Duration) (*playlist.Media, string, string) {
	t.Helper()
	var m *playlist.Media
	var u, raw string
	waitFor(t, d, fmt.Sprintf("%d segments", n), func() bool {
		m, u, raw = mediaPlaylist(t, base, room, uri)
		return len(m.Segments) >= n
	})
	return m, u, raw
}

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}

func mustGet(t *testing.T, u string) []byte {
	t.Helper()
	code, b, _ := fetch(t, u, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, code, b)
	}
	return b
}

// probe runs ffprobe on init+segment and returns its streams as "codec|type[|width|height]",
// after checking that ffmpeg decodes it without an error.
func probe(t *testing.T, init, seg []byte) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(p, append(append([]byte(nil), init...), seg...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height",
		"-of", "compact=p=0:nk=1", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v %s", err, out)
	}
	// ffprobe decodes: count frames too, so a part that does not decode fails here.
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", p, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("decode: %v %s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// ffmpegChildren lists this process's ffmpeg children (the live HLS transcoders) with their
// command lines.
func ffmpegChildren(t *testing.T) map[int]string {
	t.Helper()
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(ffmpeg") {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == me {
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out[pid] = strings.ReplaceAll(string(cmd), "\x00", " ")
		}
	}
	return out
}

// initSPS returns the SPS of the init section's video track.
func initSPS(t *testing.T, b []byte) []byte {
	t.Helper()
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	for _, tr := range in.Tracks {
		if c, ok := tr.Codec.(*fmp4.CodecH264); ok {
			return c.SPS
		}
	}
	t.Fatal("no H.264 track in the init section")
	return nil
}

// clipSPS is the first SPS of an IVF clip of H.264.
func clipSPS(t *testing.T, v string) []byte {
	t.Helper()
	smp, err := testmedia.Read(v, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range smp {
		for _, n := range bytes.Split(s.Data, []byte{0, 0, 1}) {
			n = bytes.TrimRight(n, "\x00")
			if len(n) > 0 && n[0]&0x1f == 7 {
				return n
			}
		}
	}
	t.Fatal("no SPS in the clip")
	return nil
}

func liveRoom(prefix string) string { return fmt.Sprintf("%s-%d", prefix, rand.Int64N(1<<40)) }

// An H.264 publisher's video is the top rendition as it came (its SPS in the init section, no
// ffmpeg decoding video), with AAC from the room's one ffmpeg; the playlists parse as LL-HLS.
func TestLiveHLSH264Copy(t *testing.T) {
	v, a := liveClip(t, testmedia.CodecH264, "640x360", 4*time.Second)
	s := start(t, liveHLSConfig("none"))
	room := liveRoom("hls-h264")
	defer publishLoop(t, s, room, v, a)()
	t0 := time.Now()
	mv := waitMultivariant(t, s.url, room, 1, 10*time.Second)
	m, mu, raw := waitSegments(t, s.url, room, mv.Variants[0].URI, 2, 15*time.Second)
	t.Logf("first playlist after %v", time.Since(t0).Round(time.Millisecond))
	if m.PartInf == nil || m.ServerControl == nil || m.Map == nil || m.PreloadHint == nil || len(m.Parts) == 0 && len(m.Segments[len(m.Segments)-1].Parts) == 0 {
		t.Fatalf("not an LL-HLS playlist:\n%s", raw)
	}
	if strings.Contains(raw, "#EXT-X-DISCONTINUITY\n") || strings.Count(raw, "#EXT-X-MAP:") != 1 {
		t.Fatalf("a discontinuity or a second init section in a steady stream:\n%s", raw)
	}
	init := mustGet(t, resolve(t, mu, m.Map.URI))
	if !bytes.Equal(initSPS(t, init), clipSPS(t, v)) {
		t.Fatal("the top rendition's SPS is not the publisher's: re-encoded?")
	}
	seg := mustGet(t, resolve(t, mu, m.Segments[0].URI))
	streams := probe(t, init, seg)
	if j := strings.Join(streams, ";"); j != "h264|video|640|360;aac|audio" && j != "aac|audio;h264|video|640|360" {
		t.Fatalf("segment streams %q", streams)
	}
	if len(m.Segments[len(m.Segments)-1].Parts) > 0 {
		part := mustGet(t, resolve(t, mu, m.Segments[len(m.Segments)-1].Parts[0].URI))
		probe(t, init, part)
	}
	kids := ffmpegChildren(t)
	if len(kids) != 1 {
		t.Fatalf("%d ffmpeg processes, want 1 (audio): %v", len(kids), kids)
	}
	for _, cmd := range kids {
		if strings.Contains(cmd, "-f ivf") || strings.Contains(cmd, "libx264") {
			t.Fatalf("ffmpeg takes video: %s", cmd)
		}
	}
}

// A VP8+Opus publisher is transcoded once: one ffmpeg makes every H.264 rendition and the AAC.
func TestLiveHLSVP8Transcode(t *testing.T) {
	v, a := liveClip(t, testmedia.CodecVP8, "640x360", 4*time.Second)
	s := start(t, liveHLSConfig("180p"))
	room := liveRoom("hls-vp8")
	defer publishLoop(t, s, room, v, a)()
	mv := waitMultivariant(t, s.url, room, 2, 15*time.Second)
	want := map[string]string{"640": "h264|video|640|360", "320": "h264|video|320|180"}
	for _, vr := range mv.Variants {
		m, mu, _ := waitSegments(t, s.url, room, vr.URI, 1, 15*time.Second)
		init := mustGet(t, resolve(t, mu, m.Map.URI))
		streams := probe(t, init, mustGet(t, resolve(t, mu, m.Segments[0].URI)))
		var got string
		for _, x := range streams {
			if strings.HasPrefix(x, "h264|video|") {
				got = x
			}
		}
		w := strings.Split(got, "|")
		if len(w) < 3 || want[w[2]] != got || !strings.Contains(strings.Join(streams, ";"), "aac|audio") {
			t.Fatalf("variant %s: %q", vr.URI, streams)
		}
		delete(want, w[2])
	}
	if len(want) != 0 {
		t.Fatalf("missing renditions %v", want)
	}
	if kids := ffmpegChildren(t); len(kids) != 1 {
		t.Fatalf("%d ffmpeg processes, want 1: %v", len(kids), kids)
	}
}

// The publisher leaves and comes back within the linger: the same playlist goes on, after an
// EXT-X-DISCONTINUITY, its media sequence continuing.
func TestLiveHLSReconnect(t *testing.T) {
	v, a := liveClip(t, testmedia.CodecH264, "320x240", 4*time.Second)
	s := start(t, liveHLSConfig("none"))
	room := liveRoom("hls-back")
	stop := publishLoop(t, s, room, v, a)
	mv := waitMultivariant(t, s.url, room, 1, 10*time.Second)
	m1, _, _ := waitSegments(t, s.url, room, mv.Variants[0].URI, 3, 15*time.Second)
	stop()
	waitFor(t, 5*time.Second, "room ended", func() bool { _, ok := s.SFU().Room(room); return !ok })
	defer publishLoop(t, s, room, v, a)()
	last1 := m1.Segments[len(m1.Segments)-1].URI
	var raw string
	waitFor(t, 15*time.Second, "the playlist to continue", func() bool {
		var m *playlist.Media
		m, _, raw = mediaPlaylist(t, s.url, room, mv.Variants[0].URI)
		seen, disc := false, false
		for _, sg := range m.Segments {
			if sg.URI == last1 {
				seen = true
			} else if seen && sg.Discontinuity {
				disc = true
			}
		}
		return m.MediaSequence >= m1.MediaSequence && seen && disc && !m.Endlist
	})
	if strings.Count(raw, "#EXT-X-DISCONTINUITY\n") < 1 {
		t.Fatalf("no discontinuity:\n%s", raw)
	}
}

// ffmpeg killed with SIGKILL: restarted, the playlist goes on after a discontinuity.
func TestLiveHLSTranscoderKilled(t *testing.T) {
	v, a := liveClip(t, testmedia.CodecVP8, "320x240", 4*time.Second)
	s := start(t, liveHLSConfig("none"))
	room := liveRoom("hls-kill")
	defer publishLoop(t, s, room, v, a)()
	mv := waitMultivariant(t, s.url, room, 1, 15*time.Second)
	m1, _, _ := waitSegments(t, s.url, room, mv.Variants[0].URI, 2, 15*time.Second)
	kids := ffmpegChildren(t)
	if len(kids) != 1 {
		t.Fatalf("ffmpeg processes %v", kids)
	}
	for pid := range kids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "a new ffmpeg", func() bool {
			k := ffmpegChildren(t)
			_, old := k[pid]
			return len(k) == 1 && !old
		})
	}
	last1 := m1.Segments[len(m1.Segments)-1].URI
	waitFor(t, 15*time.Second, "segments after a discontinuity", func() bool {
		m, _, _ := mediaPlaylist(t, s.url, room, mv.Variants[0].URI)
		seen, disc, after := false, false, 0
		for _, sg := range m.Segments {
			switch {
			case sg.URI == last1:
				seen = true
			case seen && sg.Discontinuity:
				disc = true
				after++
			case disc:
				after++
			}
		}
		return disc && after >= 2
	})
}

// concatIVF writes the frames of a then b (IVF files of one codec) into one IVF, b's
// timestamps going on after a's: a publisher whose resolution changes mid-show.
func concatIVF(t *testing.T, a, b string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "both.ivf")
	ba, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	res := append([]byte(nil), ba...)
	for off := 32; off+12 <= len(ba); off += 12 + int(binary.LittleEndian.Uint32(ba[off:])) {
		last = binary.LittleEndian.Uint64(ba[off+4:])
	}
	step := uint64(3000) // 90 kHz at 30 fps
	for off := 32; off+12 <= len(bb); {
		size := int(binary.LittleEndian.Uint32(bb[off:]))
		rec := append([]byte(nil), bb[off:off+12+size]...)
		binary.LittleEndian.PutUint64(rec[4:], last+step+binary.LittleEndian.Uint64(bb[off+4:]))
		res = append(res, rec...)
		off += 12 + size
	}
	if err := os.WriteFile(out, res, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// A publisher that changes resolution (H.264, copied) gets a new init section (EXT-X-MAP)
// in the same playlist.
func TestLiveHLSResolutionChange(t *testing.T) {
	v1, a := liveClip(t, testmedia.CodecH264, "320x240", 3*time.Second)
	v2, _ := liveClip(t, testmedia.CodecH264, "480x270", 3*time.Second)
	s := start(t, liveHLSConfig("none"))
	room := liveRoom("hls-res")
	defer publishLoop(t, s, room, concatIVF(t, v1, v2), a)()
	mv := waitMultivariant(t, s.url, room, 1, 10*time.Second)
	var raw, mu string
	waitFor(t, 20*time.Second, "a second EXT-X-MAP", func() bool {
		_, mu, raw = mediaPlaylist(t, s.url, room, mv.Variants[0].URI)
		return strings.Count(raw, "#EXT-X-MAP:") >= 2
	})
	var sizes []string
	for _, line := range strings.Split(raw, "\n") {
		if uri, ok := strings.CutPrefix(line, `#EXT-X-MAP:URI="`); ok {
			sps := initSPS(t, mustGet(t, resolve(t, mu, strings.TrimSuffix(uri, `"`))))
			var p h264.SPS
			if err := p.Unmarshal(sps); err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, fmt.Sprintf("%dx%d", p.Width(), p.Height()))
		}
	}
	if strings.Join(sizes, " ") != "320x240 480x270" {
		t.Fatalf("init sections of %v:\n%s", sizes, raw)
	}
}

// With --viewer-auth, /live/ wants a subscribe token: 401 JSON without, through with one.
func TestLiveHLSViewerAuth(t *testing.T) {
	s := start(t, func(c *config.Config) { liveHLSConfig("none")(c); c.ViewerAuth = true })
	room := liveRoom("hls-auth")
	code, b, _ := fetch(t, s.url+"/live/"+room+"/index.m3u8", "")
	var e map[string]string
	if code != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil || e["error"] == "" {
		t.Fatalf("without a token: %d %s", code, b)
	}
	if code, b, _ := fetch(t, s.url+"/live/"+room+"/index.m3u8", s.token(t, "other", auth.GrantSubscribe)); code != http.StatusForbidden {
		t.Fatalf("another room's token: %d %s", code, b)
	}
	tok := s.token(t, room, auth.GrantSubscribe)
	if code, b, _ := fetch(t, s.url+"/live/"+room+"/index.m3u8", tok); code == http.StatusUnauthorized || code == http.StatusForbidden {
		t.Fatalf("with a token: %d %s", code, b)
	}
	if code, b, _ := fetch(t, s.url+"/live/"+room+"/index.m3u8?token="+url.QueryEscape(tok), ""); code == http.StatusUnauthorized {
		t.Fatalf("with ?token=: %d %s", code, b)
	}
}

// A node without the room's stream serves /live/{room}/… from the room's owner node; on demand
// (the default) the first request, made to the other node, starts the room's live HLS on the
// owner through the proxy.
func TestLiveHLSClusterProxy(t *testing.T) {
	v, a := liveClip(t, testmedia.CodecH264, "320x240", 4*time.Second)
	redisURL := testserver.RedisURL(t, 11)
	mutate := func(c *config.Config) { liveHLSConfig("none")(c); c.RedisURL = redisURL }
	na, nb := start(t, mutate), start(t, mutate)
	room := liveRoom("hls-clu")
	defer publishLoop(t, na, room, v, a)()
	waitFor(t, 10*time.Second, "the room live on A", func() bool { _, ok := na.SFU().Room(room); return ok })
	_, feedA := na.LiveHLS()
	if st := feedA.Stats(); st.Starts != 0 || st.Dormant != 1 {
		t.Fatalf("A's live HLS before any request: %+v", st)
	}
	mv := waitMultivariant(t, nb.url, room, 1, 15*time.Second)
	if st := feedA.Stats(); st.Starts != 1 || st.Rooms != 1 {
		t.Fatalf("the first request via B did not start the room's live HLS on A: %+v", st)
	}
	m, mu, _ := waitSegments(t, nb.url, room, mv.Variants[0].URI, 1, 10*time.Second)
	init := mustGet(t, resolve(t, mu, m.Map.URI))
	probe(t, init, mustGet(t, resolve(t, mu, m.Segments[0].URI)))
	// A blocking reload through the proxy: answered once the next segment's first part exists.
	next := m.MediaSequence + len(m.Segments) + 1
	t0 := time.Now()
	code, b, _ := fetch(t, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=0", mu, next), "")
	var bm playlist.Media
	if code != http.StatusOK || bm.Unmarshal(b) != nil || bm.MediaSequence+len(bm.Segments) < next {
		t.Fatalf("blocking reload via B: %d after %v\n%s", code, time.Since(t0), b)
	}
	if srv, _ := nb.LiveHLS(); srv != nil {
		if _, ok := srv.Stream(room); ok {
			t.Fatal("the non-owner has its own stream of the room")
		}
	}
	// No loop: a proxied request for a room nobody has is answered 404.
	if code, b, _ := fetch(t, nb.url+"/live/nobody-"+room+"/index.m3u8", ""); code != http.StatusNotFound {
		t.Fatalf("unknown room via B: %d %s", code, b)
	}
}
