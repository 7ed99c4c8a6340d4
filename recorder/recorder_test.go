package recorder

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/sfu"
)

type fakeRoom struct {
	name   string
	tracks []sfu.TrackInfo
	plis   atomic.Int64
}

func (f *fakeRoom) Name() string            { return f.name }
func (f *fakeRoom) Tracks() []sfu.TrackInfo { return f.tracks }
func (f *fakeRoom) RequestKeyframe()        { f.plis.Add(1) }

var (
	videoInfo = sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, SSRC: 1}
	audioInfo = sfu.TrackInfo{Index: 1, Kind: webrtc.RTPCodecTypeAudio, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, SSRC: 2}
)

var (
	mediaOnce sync.Once
	mediaErr  error
	media     []testmedia.Sample
)

func needMedia(t *testing.T) []testmedia.Sample {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg not installed")
		}
		t.Skip("ffmpeg not installed")
	}
	mediaOnce.Do(func() {
		dir, err := os.MkdirTemp("", "recorder-media-")
		if err != nil {
			mediaErr = err
			return
		}
		defer os.RemoveAll(dir)
		v, a, err := testmedia.Generate(testmedia.Params{Dir: dir, Duration: 12 * time.Second})
		if err != nil {
			mediaErr = err
			return
		}
		media, mediaErr = testmedia.Read(v, a)
	})
	if mediaErr != nil {
		t.Fatal(mediaErr)
	}
	return media
}

type feedOpts struct {
	reorder  bool    // swap neighbouring video packets
	loss     float64 // drop this share of audio packets
	until    time.Duration
	audioLag time.Duration // audio packets arrive this much later than video
	hookAt   time.Duration // call hook once when the feed reaches this time
	hook     func()
	hook2At  time.Duration // and hook2 at hook2At
	hook2    func()
	video    sfu.TrackInfo // the video track (default videoInfo: VP8)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// feed packetizes the samples as a WebRTC sender would and writes them to the sink at their time.
func feed(t *testing.T, s *Sink, clk *clock, samples []testmedia.Sample, o feedOpts) {
	t.Helper()
	vinfo := o.video
	if vinfo.Codec.MimeType == "" {
		vinfo = videoInfo
	}
	vp := rtp.NewPacketizer(1200, 96, vinfo.SSRC, payloader(vinfo.Codec.MimeType), rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 111, audioInfo.SSRC, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	t0 := clk.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	const vBase, aBase = 3_000_000_000, 4_294_000_000 // audio wraps around during the test
	for _, smp := range samples {
		if o.until > 0 && smp.At >= o.until {
			break
		}
		if o.hook != nil && smp.At >= o.hookAt {
			o.hook()
			o.hook = nil
		}
		if o.hook2 != nil && smp.At >= o.hook2At {
			o.hook2()
			o.hook2 = nil
		}
		info, pz, base, rate := audioInfo, ap, uint32(aBase), 48000.0
		at := smp.At + o.audioLag
		if smp.Video {
			info, pz, base, rate, at = vinfo, vp, vBase, 90000, smp.At
		}
		pkts := pz.Packetize(smp.Data, 0)
		for _, p := range pkts {
			p.Timestamp = base + uint32(smp.At.Seconds()*rate)
		}
		if smp.Video && o.reorder && len(pkts) > 2 && smp.At > time.Second/2 {
			pkts[0], pkts[1] = pkts[1], pkts[0]
		}
		if !smp.Video && o.loss > 0 && rng.Float64() < o.loss {
			continue
		}
		clk.set(t0.Add(at))
		for _, p := range pkts {
			if err := s.WriteRTP(info, p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// payloader is what a WebRTC sender packetizes the codec with.
func payloader(mime string) rtp.Payloader {
	switch mime {
	case webrtc.MimeTypeVP9:
		return &codecs.VP9Payloader{}
	case webrtc.MimeTypeH264:
		return &codecs.H264Payloader{}
	case webrtc.MimeTypeAV1:
		return &codecs.AV1Payloader{}
	}
	return &codecs.VP8Payloader{}
}

type hookLog struct {
	mu      sync.Mutex
	started []Manifest
	chunks  []ChunkInfo
	ended   []Manifest
	failed  []error
}

func (h *hookLog) hooks() Hooks {
	return Hooks{
		Started: func(m Manifest) { h.mu.Lock(); h.started = append(h.started, m); h.mu.Unlock() },
		Chunk:   func(c ChunkInfo) { h.mu.Lock(); h.chunks = append(h.chunks, c); h.mu.Unlock() },
		Ended:   func(m Manifest) { h.mu.Lock(); h.ended = append(h.ended, m); h.mu.Unlock() },
		Failed:  func(_ Manifest, err error) { h.mu.Lock(); h.failed = append(h.failed, err); h.mu.Unlock() },
	}
}

func newRec(t *testing.T, h *hookLog, clk *clock) (*Recorder, *fakeRoom) {
	t.Helper()
	r, err := New(Params{Dir: t.TempDir(), ChunkDuration: 4 * time.Second, Hooks: h.hooks(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r, &fakeRoom{name: "shop", tracks: []sfu.TrackInfo{videoInfo, audioInfo}}
}

// probeDur returns the first and last packet time (+ one frame) of a file.
func probeDur(t *testing.T, file string) (start, dur float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	first, last := math.Inf(1), 0.0
	for _, line := range strings.Fields(string(out)) {
		f := strings.Split(line, ",")
		pts, _ := strconv.ParseFloat(f[0], 64)
		d := 1.0 / 30
		if len(f) > 1 {
			if x, err := strconv.ParseFloat(f[1], 64); err == nil {
				d = x
			}
		}
		first, last = math.Min(first, pts), math.Max(last, pts+d)
	}
	return first, last - first
}

func TestChunks(t *testing.T) {
	samples := needMedia(t)
	tests := []struct {
		name string
		o    feedOpts
	}{
		{"clean", feedOpts{}},
		{"reordered", feedOpts{reorder: true}},
		{"lossy", feedOpts{loss: 0.02}},
		{"audio arrives late", feedOpts{audioLag: 150 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hookLog
			clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			r, room := newRec(t, &h, clk)
			s := r.Attach(room)
			if !r.Live()[s.ID()] {
				t.Fatal("not live")
			}
			feed(t, s, clk, samples, tt.o)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			_ = s.Close() // idempotent
			if len(h.started) != 1 || len(h.ended) != 1 || len(h.failed) != 0 {
				t.Fatalf("hooks: %d started %d ended %v failed", len(h.started), len(h.ended), h.failed)
			}
			if len(h.chunks) != 3 || h.ended[0].Chunks != 3 {
				t.Fatalf("%d chunks (manifest %d), want 3", len(h.chunks), h.ended[0].Chunks)
			}
			if m := h.ended[0]; m.Width != 640 || m.Height != 360 {
				t.Fatalf("size %dx%d", m.Width, m.Height)
			}
			if room.plis.Load() == 0 {
				t.Error("no keyframe requested at chunk boundaries")
			}
			total := 0.0
			for i, c := range h.chunks {
				if c.Index != i || c.Video == nil || c.Audio == nil || !c.Closed {
					t.Fatalf("chunk %d: %+v", i, c)
				}
				if i > 0 && math.Abs(h.chunks[i-1].Start+h.chunks[i-1].Duration-c.Start) > 1e-6 {
					t.Errorf("chunk %d starts at %.3f, previous ends at %.3f", i, c.Start, h.chunks[i-1].Start+h.chunks[i-1].Duration)
				}
				lag := 0.0
				if i == 0 { // later chunks start on the timeline, where the (late) audio is
					lag = tt.o.audioLag.Seconds()
				}
				if math.Abs(c.Audio.Offset-c.Video.Offset-lag) > 0.03 {
					t.Errorf("chunk %d: audio offset %.3f video %.3f", i, c.Audio.Offset, c.Video.Offset)
				}
				_, vd := probeDur(t, c.Video.Path)
				_, ad := probeDur(t, c.Audio.Path)
				if math.Abs(vd-c.Duration) > 0.1+tt.o.audioLag.Seconds() || math.Abs(ad+c.Audio.Offset-c.Duration) > 0.15 {
					t.Errorf("chunk %d: duration %.3f, video file %.3f, audio file %.3f", i, c.Duration, vd, ad)
				}
				total += c.Duration
			}
			if math.Abs(total-12) > 0.2 {
				t.Errorf("total %.3f s, want 12", total)
			}
			if r.Live()[s.ID()] {
				t.Fatal("still live after close")
			}
			if p, err := Scan(r.Dir(), nil); err != nil || len(p) != 1 || len(p[0].Chunks) != 3 || p[0].Manifest.Interrupted {
				t.Fatalf("scan: %+v %v", p, err)
			}
			if err := MarkArchived(r.Dir(), s.ID()); err != nil {
				t.Fatal(err)
			}
			if p, _ := Scan(r.Dir(), nil); len(p) != 0 {
				t.Fatal("archived recording still pending")
			}
			if n, err := RemoveRaw(r.Dir(), 0, time.Now().Add(time.Second)); n != 1 || err != nil {
				t.Fatalf("remove raw: %d %v", n, err)
			}
		})
	}
}

// TestCrash: the process dies mid-chunk (no Close). What was written is readable and Scan turns
// it into a finished recording with every chunk.
func TestCrash(t *testing.T) {
	samples := needMedia(t)
	var h hookLog
	clk := &clock{now: time.Now()}
	r, room := newRec(t, &h, clk)
	s := r.Attach(room)
	feed(t, s, clk, samples, feedOpts{until: 9500 * time.Millisecond})
	// No Close: as after SIGKILL. The writes went straight to the files.
	p, err := Scan(r.Dir(), nil)
	if err != nil || len(p) != 1 {
		t.Fatalf("scan: %+v %v", p, err)
	}
	m := p[0].Manifest
	if !m.Interrupted || m.EndedAt == nil || len(p[0].Chunks) != 3 || m.Chunks != 3 {
		t.Fatalf("manifest %+v, %d chunks", m, len(p[0].Chunks))
	}
	last := p[0].Chunks[2]
	if last.Closed || last.Duration != 0 {
		t.Fatalf("last chunk %+v", last)
	}
	_, vd := probeDur(t, last.Video.Path)
	got := last.Start + vd
	if lost := 9.5 - got; lost > 0.5 {
		t.Fatalf("recorded up to %.2f s of 9.5 s: %.2f s lost", got, lost)
	} else {
		t.Logf("crash at 9.5 s: recorded up to %.2f s (%.2f s lost)", got, lost)
	}
	// Scan is stable: a second scan reports the same.
	if p2, _ := Scan(r.Dir(), nil); len(p2) != 1 || len(p2[0].Chunks) != 3 {
		t.Fatal("second scan differs")
	}
	// A live recording is skipped.
	if p3, _ := Scan(r.Dir(), r.Live()); len(p3) != 0 {
		t.Fatal("live recording scanned")
	}
}

// TestDiskError: the next chunk cannot be created; the recording stops, the sink keeps
// accepting packets (the live stream goes on) and the failure is reported.
func TestDiskError(t *testing.T) {
	samples := needMedia(t)
	var h hookLog
	clk := &clock{now: time.Now()}
	r, room := newRec(t, &h, clk)
	s := r.Attach(room)
	feed(t, s, clk, samples, feedOpts{hookAt: time.Second, hook: func() {
		if err := os.WriteFile(filepath.Join(r.Dir(), s.ID(), "c000001"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}})
	if len(h.failed) != 1 || !errors.Is(h.failed[0], ErrDisk) || r.Failures() != 1 {
		t.Fatalf("failures %v (%d)", h.failed, r.Failures())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(h.ended) != 0 {
		t.Fatal("failed recording reported as ended")
	}
}

func TestNoMedia(t *testing.T) {
	var h hookLog
	clk := &clock{now: time.Now()}
	r, room := newRec(t, &h, clk)
	s := r.Attach(room)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(r.Dir()); len(ents) != 0 || len(h.started) != 0 {
		t.Fatalf("empty recording left %d entries", len(ents))
	}
}

func TestOpusSamples(t *testing.T) {
	tests := []struct {
		pkt  []byte
		want int
	}{
		{[]byte{0xfc}, 960},        // CELT FB 20 ms, 1 frame
		{[]byte{0xf8 | 1}, 1920},   // CELT 20 ms, 2 frames
		{[]byte{0x78}, 960},        // hybrid 20 ms
		{[]byte{0x18}, 2880},       // SILK NB 60 ms
		{[]byte{0xfb, 0x03}, 2880}, // code 3, 3 frames of 20 ms
	}
	for _, tt := range tests {
		if got := opusSamples(tt.pkt); got != tt.want {
			t.Errorf("%x: %d, want %d", tt.pkt, got, tt.want)
		}
	}
}

// TestReconnect: a room that goes live again within the grace period continues its recording;
// after the grace period it starts a new one.
func TestReconnect(t *testing.T) {
	samples := needMedia(t)
	var h hookLog
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, err := New(Params{Dir: t.TempDir(), ChunkDuration: 4 * time.Second, Hooks: h.hooks(), Now: clk.Now, ReconnectGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	room := &fakeRoom{name: "shop", tracks: []sfu.TrackInfo{videoInfo, audioInfo}}
	part := func(until time.Duration) string {
		s := r.Attach(room)
		feed(t, s, clk, samples, feedOpts{until: until})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return s.ID()
	}
	id1 := part(6 * time.Second)
	clk.set(clk.Now().Add(3 * time.Second)) // publisher reconnects 3 s later
	// … and its first keyframe is lost: the part starts 1 s (one GOP) into its media.
	s := r.Attach(room)
	feed(t, s, clk, samples[firstAfter(samples, 200*time.Millisecond):], feedOpts{until: 4 * time.Second})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	id2 := s.ID()
	if id1 != id2 {
		t.Fatalf("reconnect within grace started recording %s, want %s", id2, id1)
	}
	if len(h.ended) != 2 || h.ended[1].Resumed != 1 || h.ended[1].Chunks != len(h.chunks) {
		t.Fatalf("ended %+v, %d chunks", h.ended, len(h.chunks))
	}
	for i, c := range h.chunks {
		if c.Index != i {
			t.Fatalf("chunk %d has index %d", i, c.Index)
		}
		if i > 0 && math.Abs(h.chunks[i-1].Start+h.chunks[i-1].Duration-c.Start) > 0.1 {
			t.Errorf("gap before chunk %d: previous ends %.3f, starts %.3f", i, h.chunks[i-1].Start+h.chunks[i-1].Duration, c.Start)
		}
	}
	if end := h.ended[1].End; math.Abs(end-9) > 0.2 {
		t.Errorf("timeline end %.2f s, want ~9 (6 + 3, without the pause)", end)
	}
	clk.set(clk.Now().Add(10 * time.Second)) // too late: a new recording
	if id3 := part(2 * time.Second); id3 == id1 {
		t.Fatal("reconnect after the grace period continued the old recording")
	}
	if p, _ := Scan(r.Dir(), nil); len(p) != 2 {
		t.Fatalf("%d recordings on disk, want 2", len(p))
	}
}

// TestUnsupportedCodec: tracks in codecs the recorder does not write are ignored, not fatal.
func TestUnsupportedCodec(t *testing.T) {
	var h hookLog
	clk := &clock{now: time.Now()}
	r, _ := newRec(t, &h, clk)
	h265 := sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000}, SSRC: 9}
	s := r.Attach(&fakeRoom{name: "h", tracks: []sfu.TrackInfo{h265}})
	for i := range 10 {
		if err := s.WriteRTP(h265, &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i * 3000), SSRC: 9}, Payload: []byte{0x65, 1, 2}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil || len(h.failed) != 0 {
		t.Fatalf("%v %v", err, h.failed)
	}
}

// firstAfter is the index of the first sample at or after d.
func firstAfter(s []testmedia.Sample, d time.Duration) int {
	for i, x := range s {
		if x.At >= d {
			return i
		}
	}
	return len(s)
}

// TestCreateFreshKeepsLinks: a chunk file created again at a path whose old file is linked
// elsewhere (the local store's object, storage.Local.PutFile) is a new file; the linked one keeps
// its bytes.
func TestCreateFreshKeepsLinks(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/video.ivf"
	if err := os.WriteFile(p, []byte("stored"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p, dir+"/object"); err != nil {
		t.Fatal(err)
	}
	f, err := createFresh(p)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("new")
	_ = f.Close()
	if b, _ := os.ReadFile(dir + "/object"); string(b) != "stored" {
		t.Fatalf("the linked object became %q", b)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("the new file is %q", b)
	}
}
