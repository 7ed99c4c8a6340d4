package livehls

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// media is a real H.264 + AAC clip, cut into access units and frames (ffmpeg, once).
type media struct {
	video [][][]byte // access units (NAL units), 30 fps
	audio [][]byte   // AAC frames (1024 samples at 48 kHz)
	asc   []byte
}

var (
	mediaOnce sync.Once
	theMedia  media
	mediaErr  error
)

func needMedia(t testing.TB) media {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg not installed")
		}
		t.Skip("ffmpeg not installed")
	}
	mediaOnce.Do(func() { theMedia, mediaErr = makeMedia() })
	if mediaErr != nil {
		t.Fatal(mediaErr)
	}
	return theMedia
}

func makeMedia() (media, error) {
	dir, err := os.MkdirTemp("", "livehls-media-")
	if err != nil {
		return media{}, err
	}
	defer os.RemoveAll(dir)
	v, a := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.aac")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "8",
		"-pix_fmt", "yuv420p", "-c:v", "libx264", "-profile:v", "baseline", "-g", "30", "-x264-params", "aud=1", "-bf", "0", v).CombinedOutput(); err != nil {
		return media{}, fmt.Errorf("ffmpeg video: %v: %s", err, out)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "8",
		"-c:a", "aac", "-ac", "2", "-f", "adts", a).CombinedOutput(); err != nil {
		return media{}, fmt.Errorf("ffmpeg audio: %v: %s", err, out)
	}
	raw, err := os.ReadFile(v)
	if err != nil {
		return media{}, err
	}
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(raw); err != nil {
		return media{}, err
	}
	var m media
	var cur [][]byte
	for _, n := range nalus {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter && len(cur) > 0 {
			m.video = append(m.video, cur)
			cur = nil
		}
		cur = append(cur, n)
	}
	if len(cur) > 0 {
		m.video = append(m.video, cur)
	}
	araw, err := os.ReadFile(a)
	if err != nil {
		return media{}, err
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(araw); err != nil {
		return media{}, err
	}
	for _, p := range pkts {
		m.audio = append(m.audio, p.AU)
	}
	asc := mpeg4audio.AudioSpecificConfig{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate, ChannelCount: pkts[0].ChannelCount}
	if m.asc, err = asc.Marshal(); err != nil {
		return media{}, err
	}
	return m, nil
}

// feeder writes the clip into variants of a stream at its media times, from `from` (seconds).
type feeder struct {
	m        media
	st       *Stream
	vs       []*Variant
	nextV    int
	nextA    int
	t0       time.Duration // media time of the clip's start
	loopSize int
}

func newFeeder(t testing.TB, st *Stream, names ...string) *feeder {
	t.Helper()
	m := needMedia(t)
	f := &feeder{m: m, st: st}
	for i, n := range names {
		v, err := st.AddVariant(VariantParams{Name: n, Bandwidth: 1_000_000 - i*100_000})
		if err != nil {
			t.Fatal(err)
		}
		f.vs = append(f.vs, v)
	}
	if err := st.SetAudio(AudioParams{SampleRate: 48000, Channels: 2, Config: m.asc}); err != nil {
		t.Fatal(err)
	}
	return f
}

// until writes media up to media time d.
func (f *feeder) until(t testing.TB, d time.Duration) {
	t.Helper()
	for {
		vt := f.t0 + time.Duration(f.nextV)*time.Second/30
		at := f.t0 + time.Duration(f.nextA)*1024*time.Second/48000
		if vt > d && at > d {
			return
		}
		if vt <= at {
			if f.nextV >= len(f.m.video) {
				t.Fatalf("the clip is shorter than %v", d)
			}
			for _, v := range f.vs {
				if err := v.WriteH264(vt, vt, f.m.video[f.nextV]); err != nil {
					t.Fatalf("WriteH264 at %v: %v", vt, err)
				}
			}
			f.nextV++
		} else {
			if err := f.st.WriteAAC(at, [][]byte{f.m.audio[f.nextA]}); err != nil {
				t.Fatal(err)
			}
			f.nextA++
		}
	}
}

func get(t testing.TB, h http.Handler, url string) (int, http.Header, []byte) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
	return w.Code, w.Header(), w.Body.Bytes()
}

func mediaPlaylist(t testing.TB, body []byte) *playlist.Media {
	t.Helper()
	pl, err := playlist.Unmarshal(body)
	if err != nil {
		t.Fatalf("the playlist does not parse: %v\n%s", err, body)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		t.Fatalf("not a media playlist:\n%s", body)
	}
	return m
}

// TestPlaylists: two renditions of a real H.264 + AAC clip: the multivariant and media playlists
// parse with a real HLS library and follow LL-HLS's rules — parts no longer than PART-TARGET,
// segments no longer than TARGETDURATION and starting with an independent part, continuous MSNs,
// a preload hint, rendition reports, the server control; the delta playlist skips old segments.
func TestPlaylists(t *testing.T) {
	srv := NewServer(ServerConfig{})
	st := srv.Open("shop", Config{Window: time.Minute})
	f := newFeeder(t, st, "src", "360p")
	f.until(t, 7*time.Second)

	code, h, body := get(t, srv, "/live/shop/index.m3u8")
	if code != 200 || h.Get("Content-Type") != "application/vnd.apple.mpegurl" || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("multivariant: %d %v\n%s", code, h, body)
	}
	pl, err := playlist.Unmarshal(body)
	if err != nil {
		t.Fatalf("multivariant does not parse: %v\n%s", err, body)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok || len(mv.Variants) != 2 || mv.Variants[0].URI != "src/index.m3u8" || mv.Variants[0].Resolution != "320x240" ||
		!strings.HasPrefix(mv.Variants[0].Codecs[0], "avc1.42") || mv.Variants[0].Codecs[1] != "mp4a.40.2" {
		t.Fatalf("multivariant:\n%s", body)
	}

	code, h, body = get(t, srv, "/live/shop/src/index.m3u8")
	if code != 200 || h.Get("Cache-Control") != cachePlaylist {
		t.Fatalf("media playlist: %d %v", code, h)
	}
	m := mediaPlaylist(t, body)
	if m.ServerControl == nil || !m.ServerControl.CanBlockReload || m.PartInf == nil || m.PreloadHint == nil {
		t.Fatalf("LL-HLS tags missing:\n%s", body)
	}
	target := time.Duration(m.TargetDuration) * time.Second
	if m.PartInf.PartTarget != DefaultPartTarget.Round(10*time.Microsecond) && m.PartInf.PartTarget > DefaultPartTarget+time.Millisecond {
		t.Errorf("PART-TARGET %v", m.PartInf.PartTarget)
	}
	if m.ServerControl.PartHoldBack == nil || *m.ServerControl.PartHoldBack < 3*m.PartInf.PartTarget-time.Millisecond {
		t.Errorf("PART-HOLD-BACK %v < 3 × PART-TARGET", m.ServerControl.PartHoldBack)
	}
	if len(m.Segments) < 3 {
		t.Fatalf("%d segments after 7 s:\n%s", len(m.Segments), body)
	}
	for i, s := range m.Segments {
		if s.Duration > target || s.Duration < 900*time.Millisecond {
			t.Errorf("segment %d: %v (target %v)", i, s.Duration, target)
		}
		if s.DateTime == nil {
			t.Errorf("segment %d has no PROGRAM-DATE-TIME", i)
		}
		if len(s.Parts) > 0 && !s.Parts[0].Independent {
			t.Errorf("segment %d starts with a dependent part", i)
		}
		var sum time.Duration
		for _, p := range s.Parts {
			if p.Duration > m.PartInf.PartTarget {
				t.Errorf("segment %d: part %v > PART-TARGET %v", i, p.Duration, m.PartInf.PartTarget)
			}
			sum += p.Duration
		}
		if len(s.Parts) > 0 && (sum-s.Duration > time.Millisecond || s.Duration-sum > time.Millisecond) {
			t.Errorf("segment %d: parts sum to %v, EXTINF %v", i, sum, s.Duration)
		}
	}
	if !strings.Contains(string(body), `#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8",LAST-MSN=`) {
		t.Errorf("no rendition report of 360p:\n%s", body)
	}
	want := fmt.Sprintf("%s-%d.%d.m4s", st.id, m.MediaSequence+len(m.Segments), len(m.Parts))
	if m.PreloadHint.URI != want {
		t.Errorf("preload hint %q, want %q", m.PreloadHint.URI, want)
	}

	// The parts and segments it names are served, and decode: init + segment with ffprobe.
	var mp4 bytes.Buffer
	code, _, init := get(t, srv, "/live/shop/src/"+st.id+"-init1.mp4")
	if code != 200 {
		t.Fatalf("init: %d", code)
	}
	mp4.Write(init)
	code, h, seg := get(t, srv, "/live/shop/src/"+m.Segments[1].URI)
	if code != 200 || h.Get("Cache-Control") != cacheMedia || h.Get("Content-Type") != "video/iso.segment" {
		t.Fatalf("segment: %d %v", code, h)
	}
	mp4.Write(seg)
	var parts bytes.Buffer
	for _, p := range m.Segments[1].Parts {
		_, _, b := get(t, srv, "/live/shop/src/"+p.URI)
		parts.Write(b)
	}
	if !bytes.Equal(parts.Bytes(), seg) {
		t.Error("a segment is not its parts")
	}
	probeMP4(t, mp4.Bytes(), m.Segments[1].Duration)

	// Delta update: after the window grows past CAN-SKIP-UNTIL, old segments are skipped.
	f.until(t, 7*time.Second) // nothing new
	_, _, dbody := get(t, srv, "/live/shop/src/index.m3u8?_HLS_skip=YES")
	dm := mediaPlaylist(t, dbody)
	if len(dm.Segments) > len(m.Segments) {
		t.Errorf("delta playlist longer than the full one")
	}
}

// probeMP4 decodes an init + segment with ffprobe: H.264 and AAC, about dur long.
func probeMP4(t *testing.T, data []byte, dur time.Duration) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "csv=p=0", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "h264") || !strings.Contains(s, "aac") {
		t.Fatalf("ffprobe of init + segment: %s", s)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decoding init + segment: %v: %s", err, out)
	}
}

// TestBlockingReload: a request for the next part is held until the part exists; one for a
// part far ahead is refused at once (400); a malformed one too; one that waits too long gets
// 503; a client holding too many is refused 429 with Retry-After; End answers every waiter.
func TestBlockingReload(t *testing.T) {
	srv := NewServer(ServerConfig{MaxBlockingPerClient: 2})
	st := srv.Open("shop", Config{})
	f := newFeeder(t, st, "src")
	f.until(t, 3*time.Second)
	_, _, body := get(t, srv, "/live/shop/src/index.m3u8")
	m := mediaPlaylist(t, body)
	msn := m.MediaSequence + len(m.Segments)
	next := len(m.Parts)
	done := make(chan []byte, 1)
	go func() {
		_, _, b := get(t, srv, fmt.Sprintf("/live/shop/src/index.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, next))
		done <- b
	}()
	select {
	case <-done:
		t.Fatal("answered before the part existed")
	case <-time.After(200 * time.Millisecond):
	}
	f.until(t, 3*time.Second+500*time.Millisecond)
	select {
	case b := <-done:
		nm := mediaPlaylist(t, b)
		if nm.MediaSequence+len(nm.Segments) < msn || (nm.MediaSequence+len(nm.Segments) == msn && len(nm.Parts) <= next) {
			t.Fatalf("the answer lacks part %d.%d:\n%s", msn, next, b)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the blocked request was not answered when its part came")
	}
	for _, q := range []string{fmt.Sprintf("_HLS_msn=%d", msn+10), "_HLS_msn=x", "_HLS_part=1", "_HLS_msn=-1", "_HLS_skip=maybe"} {
		if code, h, _ := get(t, srv, "/live/shop/src/index.m3u8?"+q); code != http.StatusBadRequest || h.Get("Cache-Control") != cacheNone {
			t.Errorf("?%s: %d", q, code)
		}
	}
	// Caps: two held, the third refused.
	held := make(chan int, 2)
	for range 2 {
		go func() {
			code, _, _ := get(t, srv, fmt.Sprintf("/live/shop/src/index.m3u8?_HLS_msn=%d", msn+2))
			held <- code
		}()
	}
	for srv.Blocking() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	code, h, _ := get(t, srv, fmt.Sprintf("/live/shop/src/index.m3u8?_HLS_msn=%d", msn+2))
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("a third blocking request of one client: %d", code)
	}
	srv.Ended("shop", st)
	for range 2 {
		select {
		case code := <-held:
			if code != 200 {
				t.Errorf("a waiter at the end: %d", code)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("End did not answer the waiters")
		}
	}
	_, _, body = get(t, srv, "/live/shop/src/index.m3u8")
	if m := mediaPlaylist(t, body); !m.Endlist {
		t.Error("no ENDLIST after End")
	}
}

// TestBlockingTimeout: a wait longer than three target durations is answered 503.
func TestBlockingTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 3 target durations")
	}
	srv := NewServer(ServerConfig{})
	st := srv.Open("shop", Config{SegmentTarget: 400 * time.Millisecond, PartTarget: 100 * time.Millisecond})
	f := newFeeder(t, st, "src")
	f.until(t, time.Second)
	_, _, body := get(t, srv, "/live/shop/src/index.m3u8")
	m := mediaPlaylist(t, body)
	start := time.Now()
	code, _, _ := get(t, srv, fmt.Sprintf("/live/shop/src/index.m3u8?_HLS_msn=%d", m.MediaSequence+len(m.Segments)+1))
	if code != http.StatusServiceUnavailable || time.Since(start) < 3*time.Duration(m.TargetDuration)*time.Second-100*time.Millisecond {
		t.Fatalf("a wait that never ends: %d after %v", code, time.Since(start))
	}
}

// TestReopenDiscontinuity: the publisher leaves and comes back within the linger: the same
// playlist goes on, its MSNs continue, the new segment starts with a discontinuity; a resolution
// change brings a new init section. After the linger without a publisher the stream is gone.
func TestReopenDiscontinuity(t *testing.T) {
	srv := NewServer(ServerConfig{Linger: 300 * time.Millisecond})
	st := srv.Open("shop", Config{})
	f := newFeeder(t, st, "src")
	f.until(t, 3*time.Second)
	srv.Ended("shop", st)
	again := srv.Open("shop", Config{})
	if again != st {
		t.Fatal("a publisher back within the linger got a new stream")
	}
	again.Discontinuity()
	f.t0, f.nextV, f.nextA = 4*time.Second, 0, 0 // the clip again, a second later on the timeline
	f.until(t, 8*time.Second)
	_, _, body := get(t, srv, "/live/shop/src/index.m3u8")
	m := mediaPlaylist(t, body)
	if m.Endlist {
		t.Fatal("ENDLIST after the publisher came back")
	}
	discs := 0
	for _, s := range m.Segments {
		if s.Discontinuity {
			discs++
		}
	}
	if discs != 1 {
		t.Errorf("%d discontinuities, want 1:\n%s", discs, body)
	}
	srv.Ended("shop", st)
	time.Sleep(500 * time.Millisecond)
	if code, _, _ := get(t, srv, "/live/shop/src/index.m3u8"); code != http.StatusNotFound {
		t.Errorf("after the linger: %d", code)
	}
}

// TestBadPaths: traversal and junk are 404 JSON, never a file; other methods 405.
func TestBadPaths(t *testing.T) {
	srv := NewServer(ServerConfig{})
	st := srv.Open("shop", Config{})
	newFeeder(t, st, "src").until(t, time.Second)
	for _, p := range []string{"/live/", "/live/shop", "/live/../etc/passwd", "/live/shop/src/../../x", "/live/shop/src/" + st.id + "-0.1.m4s",
		"/live/shop/nope/index.m3u8", "/live/sh%20op/index.m3u8", "/live/shop/src/deadbeef-1.m4s", "/live/shop/src/" + st.id + "-init9.mp4",
		"/live/other/index.m3u8", "/live/shop/src/a/b"} {
		code, h, body := get(t, srv, p)
		if code != http.StatusNotFound || h.Get("Content-Type") != "application/json" || !bytes.Contains(body, []byte(`"error"`)) {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/live/shop/index.m3u8", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

// TestPlaylistAllocs: answering a playlist request (blocking or not) allocates nothing per viewer
// beyond the response writer's own: the bytes are rendered once per change.
func TestPlaylistAllocs(t *testing.T) {
	srv := NewServer(ServerConfig{})
	st := srv.Open("shop", Config{})
	newFeeder(t, st, "src").until(t, 3*time.Second)
	_, _, body := get(t, srv, "/live/shop/src/index.m3u8")
	m := mediaPlaylist(t, body)
	r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/live/shop/src/index.m3u8?_HLS_msn=%d&_HLS_part=0", m.MediaSequence), nil)
	w := &discardWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		srv.ServeHTTP(w, r)
	})
	t.Logf("allocations per answered playlist request: %.1f (headers included)", allocs)
	if allocs > 8 {
		t.Errorf("%.1f allocations per playlist request", allocs)
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(b []byte) (int, error) { return io.Discard.Write(b) }

// TestLateAudio: the audio is declared a second after the video began: the audio-less media is
// dropped (no segment without audio stays, no discontinuity), MSNs go on, and every segment's
// init section has the audio track.
func TestLateAudio(t *testing.T) {
	m := needMedia(t)
	srv := NewServer(ServerConfig{})
	st := srv.Open("shop", Config{})
	v, err := st.AddVariant(VariantParams{Name: "src"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 45 { // 1.5 s of video alone
		ts := time.Duration(i) * time.Second / 30
		if err := v.WriteH264(ts, ts, m.video[i]); err != nil {
			t.Fatal(err)
		}
	}
	st.mu.Lock()
	beforeSeq := int(v.open.msn) // the open segment (none is complete yet)
	st.mu.Unlock()
	f := &feeder{m: m, st: st, vs: []*Variant{v}, nextV: 45}
	if err := st.SetAudio(AudioParams{SampleRate: 48000, Channels: 2, Config: m.asc}); err != nil {
		t.Fatal(err)
	}
	f.nextA = 70 // the audio from 1.49 s on
	f.until(t, 6*time.Second)
	_, _, body := get(t, srv, "/live/shop/src/index.m3u8")
	after := mediaPlaylist(t, body)
	if after.MediaSequence <= beforeSeq {
		t.Errorf("MSN went from %d to %d", beforeSeq, after.MediaSequence)
	}
	for _, s := range after.Segments {
		if s.Discontinuity {
			t.Errorf("a discontinuity:\n%s", body)
		}
	}
	if strings.Contains(string(body), "init1.mp4") || !strings.Contains(string(body), "init2.mp4") {
		t.Errorf("the audio-less init section is still named:\n%s", body)
	}
	_, _, mv := get(t, srv, "/live/shop/index.m3u8")
	if !strings.Contains(string(mv), "mp4a.40.2") {
		t.Errorf("multivariant without the audio codec:\n%s", mv)
	}
}

// TestFirstPlaylistWaits: a media playlist asked for before the first segment is complete is
// held until there is one (a playlist without segments is refused by players); a variant that
// asked for a keyframe when a segment ran past its target gets the call.
func TestFirstPlaylistWaits(t *testing.T) {
	m := needMedia(t)
	srv := NewServer(ServerConfig{})
	st := srv.Open("shop", Config{})
	asked := make(chan struct{}, 8)
	v, err := st.AddVariant(VariantParams{Name: "src", RequestKeyframe: func() { asked <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetAudio(AudioParams{SampleRate: 48000, Channels: 2, Config: m.asc})
	f := &feeder{m: m, st: st, vs: []*Variant{v}}
	f.until(t, 500*time.Millisecond)
	done := make(chan int, 1)
	go func() {
		code, _, _ := get(t, srv, "/live/shop/src/index.m3u8")
		done <- code
	}()
	select {
	case <-done:
		t.Fatal("answered before the first segment")
	case <-time.After(200 * time.Millisecond):
	}
	// Frames without keyframes past the segment target: the keyframe is asked for.
	for i := 31; i < 75; i++ { // skip the keyframe at 1 s (frame 30) and 2 s (60)
		if i == 60 {
			continue
		}
		ts := time.Duration(i) * time.Second / 30
		if err := v.WriteH264(ts, ts, m.video[i]); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-asked:
	case <-time.After(time.Second):
		t.Fatal("no keyframe asked for past the segment target")
	}
	f.nextV, f.nextA = 90, 0
	f.t0 = 0
	for i := 90; i < 150; i++ {
		ts := time.Duration(i) * time.Second / 30
		if err := v.WriteH264(ts, ts, m.video[i]); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("the held playlist: %d", code)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the held playlist was not answered once a segment was complete")
	}
}
