package hlsfeed

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/livehls"
	"github.com/relaycast/relaycast/sfu"
)

// fakePackager is the packager seam's fake: it records what the feed writes. Open returns the
// room's stream again while it lingers (ended, not yet forgotten), like livehls.Server.
type fakePackager struct {
	mu      sync.Mutex
	streams map[string]*fakeStream
	opens   int
	removed int
}

func newFakePackager() *fakePackager { return &fakePackager{streams: map[string]*fakeStream{}} }

func (p *fakePackager) Open(room string, _ livehls.Config) Stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opens++
	if st, ok := p.streams[room]; ok {
		st.mu.Lock()
		st.ended = false
		st.mu.Unlock()
		return st
	}
	st := &fakeStream{epoch: time.Now(), variants: map[string]*fakeVariant{}}
	p.streams[room] = st
	return st
}

func (p *fakePackager) Ended(room string, st Stream) {}

func (p *fakePackager) Remove(room string, st Stream) {
	st.End()
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.streams[room]; ok && Stream(cur) == st {
		delete(p.streams, room)
		p.removed++
	}
}

// counts are the opens and removals so far.
func (p *fakePackager) counts() (opens, removed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opens, p.removed
}

func (p *fakePackager) stream(room string) *fakeStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.streams[room]
}

type fakeStream struct {
	epoch    time.Time
	mu       sync.Mutex
	variants map[string]*fakeVariant
	order    []string
	audio    []livehls.AudioParams
	aac      []time.Duration // pts of each WriteAAC call
	aacN     int
	discont  []time.Duration // the latest pts written when Discontinuity was called
	latest   time.Duration
	ended    bool
	ends     int
}

func (s *fakeStream) Epoch() time.Time { return s.epoch }

func (s *fakeStream) AddVariant(p livehls.VariantParams) (Variant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.variants[p.Name]; ok {
		return nil, livehls.ErrExists
	}
	v := &fakeVariant{s: s, p: p}
	s.variants[p.Name] = v
	s.order = append(s.order, p.Name)
	return v, nil
}

func (s *fakeStream) SetAudio(p livehls.AudioParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audio = append(s.audio, p)
	return nil
}

func (s *fakeStream) WriteAAC(pts time.Duration, frames [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return livehls.ErrClosed
	}
	s.aac = append(s.aac, pts)
	s.aacN += len(frames)
	s.latest = max(s.latest, pts)
	return nil
}

func (s *fakeStream) Discontinuity() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discont = append(s.discont, s.latest)
}

func (s *fakeStream) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	s.ends++
}

func (s *fakeStream) variant(name string) *fakeVariant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.variants[name]
}

type au struct {
	pts, dts time.Duration
	nalus    [][]byte
}

type fakeVariant struct {
	s   *fakeStream
	p   livehls.VariantParams
	aus []au
}

func (v *fakeVariant) WriteH264(pts, dts time.Duration, nalus [][]byte) error {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	if v.s.ended {
		return livehls.ErrClosed
	}
	cp := make([][]byte, len(nalus))
	for i, n := range nalus {
		cp[i] = append([]byte(nil), n...)
	}
	v.aus = append(v.aus, au{pts, dts, cp})
	v.s.latest = max(v.s.latest, pts)
	return nil
}

func (v *fakeVariant) snapshot() []au {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return append([]au(nil), v.aus...)
}

// fakeRoom is an sfu.LiveRoom.
type fakeRoom struct {
	name   string
	tracks []sfu.TrackInfo
	keys   atomic.Int64
}

func (r *fakeRoom) Name() string            { return r.name }
func (r *fakeRoom) Publisher() string       { return "seller" }
func (r *fakeRoom) Tracks() []sfu.TrackInfo { return r.tracks }
func (r *fakeRoom) RequestKeyframe()        { r.keys.Add(1) }

// clip is test media as RTP: one packetizer per track.
type clip struct {
	samples []testmedia.Sample
	video   sfu.TrackInfo
	audio   sfu.TrackInfo
	vp, ap  rtp.Packetizer
	off     time.Duration // added to the RTP timestamps (a clip played after another)
	files   [2]string     // the video (IVF) and audio (Ogg) files
}

func newClip(t *testing.T, codec, size string, d time.Duration, gop int) *clip {
	t.Helper()
	testmedia.NeedFFmpeg(t)
	v, a, err := testmedia.Generate(testmedia.Params{Dir: t.TempDir(), Duration: d, Size: size, FPS: 30, GOP: gop, Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	smp, err := testmedia.Read(v, a)
	if err != nil {
		t.Fatal(err)
	}
	c := &clip{samples: smp, files: [2]string{v, a}}
	var pl rtp.Payloader = &codecs.H264Payloader{}
	mime := webrtc.MimeTypeH264
	switch codec {
	case testmedia.CodecVP8:
		pl, mime = &codecs.VP8Payloader{}, webrtc.MimeTypeVP8
	case testmedia.CodecVP9:
		pl, mime = &codecs.VP9Payloader{}, webrtc.MimeTypeVP9
	case testmedia.CodecAV1:
		pl, mime = &codecs.AV1Payloader{}, webrtc.MimeTypeAV1
	}
	c.video = sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, SSRC: 1}
	c.audio = sfu.TrackInfo{Index: 1, Kind: webrtc.RTPCodecTypeAudio, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, SSRC: 2}
	c.vp = rtp.NewPacketizer(1200, 96, 1, pl, rtp.NewRandomSequencer(), 90000)
	c.ap = rtp.NewPacketizer(1200, 111, 2, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	return c
}

func (c *clip) room(name string) *fakeRoom {
	return &fakeRoom{name: name, tracks: []sfu.TrackInfo{c.video, c.audio}}
}

// play writes the clip's packets to sink, paced at speed times real time (0: at once).
func (c *clip) play(t *testing.T, sink sfu.Sink, speed float64, stop <-chan struct{}) {
	t.Helper()
	start := time.Now()
	for _, s := range c.samples {
		if speed > 0 {
			if wait := time.Duration(float64(s.At)/speed) - time.Since(start); wait > 0 {
				select {
				case <-time.After(wait):
				case <-stop:
					return
				}
			}
		}
		var pkts []*rtp.Packet
		if s.Video {
			pkts = c.vp.Packetize(s.Data, 0)
			for _, p := range pkts {
				p.Timestamp = 1000 + uint32((c.off+s.At)*90000/time.Second)
			}
		} else {
			pkts = c.ap.Packetize(s.Data, 0)
			for _, p := range pkts {
				p.Timestamp = 5000 + uint32((c.off+s.At)*48000/time.Second)
			}
		}
		info := c.audio
		if s.Video {
			info = c.video
		}
		for _, p := range pkts {
			if err := sink.WriteRTP(info, p); err != nil {
				t.Errorf("WriteRTP: %v", err)
				return
			}
		}
	}
}
