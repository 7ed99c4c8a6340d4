package sfu

import (
	"io"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// chanTrack is an IncomingTrack fed packet by packet by the test.
type chanTrack struct {
	codec webrtc.RTPCodecCapability
	kind  webrtc.RTPCodecType
	ssrc  uint32
	pkts  chan []byte
	done  chan struct{}
	once  sync.Once
}

func newChanTrack(kind webrtc.RTPCodecType, mime string, clock uint32, ssrc uint32) *chanTrack {
	return &chanTrack{codec: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: clock}, kind: kind, ssrc: ssrc,
		pkts: make(chan []byte, 1024), done: make(chan struct{})}
}

func (c *chanTrack) Read(b []byte) (int, error) {
	select {
	case p := <-c.pkts:
		return copy(b, p), nil
	case <-c.done:
		return 0, io.EOF
	}
}
func (c *chanTrack) Codec() webrtc.RTPCodecCapability { return c.codec }
func (c *chanTrack) Kind() webrtc.RTPCodecType        { return c.kind }
func (c *chanTrack) RID() string                      { return "" }
func (c *chanTrack) SSRC() webrtc.SSRC                { return webrtc.SSRC(c.ssrc) }
func (c *chanTrack) RequestKeyframe() error           { return nil } // a file publisher: ignored
func (c *chanTrack) Close() error                     { c.once.Do(func() { close(c.done) }); return nil }

func (c *chanTrack) send(t *testing.T, seq uint16, ts uint32, payload []byte) {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: c.ssrc, Marker: true}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c.pkts <- b
}

// vp8Frame is a one-packet VP8 frame: payload descriptor S=1, then the frame tag (P=0: key).
func vp8Frame(key bool) []byte {
	tag := byte(0x51)
	if key {
		tag = 0x50
	}
	return append([]byte{0x10, tag, 0x02, 0x00, 0x9d, 0x01, 0x2a}, make([]byte, 200)...)
}

type recSink struct {
	mu   sync.Mutex
	pkts map[int][]uint16
	ts   map[int][]uint32
}

func (s *recSink) WriteRTP(info TrackInfo, pkt *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkts[info.Index] = append(s.pkts[info.Index], pkt.SequenceNumber)
	s.ts[info.Index] = append(s.ts[info.Index], pkt.Timestamp)
	return nil
}
func (s *recSink) Close() error { return nil }

func (s *recSink) seqs(i int) []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint16(nil), s.pkts[i]...)
}

// A sink that attaches after the room's keyframe (a publisher that cannot answer keyframe
// requests) gets the packets since that keyframe from the cache, then the live ones: its first
// video packet is the keyframe's, and every sequence number comes exactly once, in order, across
// the seam between replay and live, also while packets keep arriving during the attach. Audio is
// replayed over the same span so both tracks start together.
func TestSinkGetsPacketsSinceKeyframe(t *testing.T) {
	sink := &recSink{pkts: map[int][]uint16{}, ts: map[int][]uint32{}}
	s, err := New(Config{Loopback: true, LiveGrace: 10 * time.Second, OnLive: func(LiveRoom) Sink { return sink }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := newRoom(s, "late", "", "")
	r.expected = 3
	s.mu.Lock()
	s.rooms[r.name] = r
	s.mu.Unlock()

	video := newChanTrack(webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8, 90000, 1111)
	audio := newChanTrack(webrtc.RTPCodecTypeAudio, webrtc.MimeTypeOpus, 48000, 2222)
	r.addTrack(video, nil)
	r.addTrack(audio, nil)
	vt, at := r.snapshotTracks()[0], r.snapshotTracks()[1]
	const audioBefore = 100 // 2 s of 20 ms Opus packets
	for i := 0; i < audioBefore; i++ {
		audio.send(t, uint16(1000+i), uint32(i)*960, []byte{0xfc, 1, 2, 3})
	}
	// Frames 0..9 are a GOP before an older keyframe; frame 10 is the latest keyframe.
	const key, before = 10, 40
	for i := 0; i < before; i++ {
		video.send(t, uint16(i), uint32(i)*3000, vp8Frame(i == 0 || i == key))
	}
	for deadline := time.Now().Add(5 * time.Second); vt.cache.get(before-1) == nil || at.cache.get(1000+audioBefore-1) == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the read loop did not cache the packets")
		}
	}

	var wg sync.WaitGroup
	wg.Add(1)
	const total = 400
	go func() { // live video keeps coming while the sink attaches
		defer wg.Done()
		for i := before; i < total; i++ {
			video.send(t, uint16(i), uint32(i)*3000, vp8Frame(false))
			if i%8 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	third := newChanTrack(webrtc.RTPCodecTypeAudio, webrtc.MimeTypeOpus, 48000, 3333)
	r.addTrack(third, nil) // the room goes live now and the sink attaches
	wg.Wait()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got := sink.seqs(0); len(got) > 0 && got[len(got)-1] == total-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink did not get the live packets: %v", sink.seqs(0))
		}
	}
	got := sink.seqs(0)
	if got[0] != key {
		t.Fatalf("the sink's first video packet is %d, want the latest keyframe's %d (%d packets)", got[0], key, len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("video sequence not contiguous at %d: %d after %d", i, got[i], got[i-1])
		}
	}
	if len(got) != total-key {
		t.Errorf("sink got %d video packets, want %d", len(got), total-key)
	}
	sink.mu.Lock()
	aseq, ats := append([]uint16(nil), sink.pkts[1]...), append([]uint32(nil), sink.ts[1]...)
	sink.mu.Unlock()
	if len(aseq) == 0 {
		t.Fatal("no audio replayed")
	}
	for i := 1; i < len(aseq); i++ {
		if aseq[i] != aseq[i-1]+1 {
			t.Fatalf("audio sequence not contiguous at %d: %d after %d", i, aseq[i], aseq[i-1])
		}
	}
	if aseq[len(aseq)-1] != 1000+audioBefore-1 {
		t.Errorf("audio replay ends at %d, want the newest cached %d", aseq[len(aseq)-1], 1000+audioBefore-1)
	}
	// At least frames 10..39 (29/30 s) were cached when the sink attached; more may have been
	// (the live frames keep coming), so the video replay, and the audio's with it, can be longer.
	span := float64(ats[len(ats)-1]-ats[0]) / 48000
	if want := 29.0 / 30; span < want-0.03 {
		t.Errorf("audio replay spans %.3f s, want at least the video's %.3f s", span, want)
	}
	r.end("test over")
}

// A keyframe the cache no longer holds whole is not replayed: the sink starts with live packets.
func TestSinkNoReplayWhenKeyframeWrapped(t *testing.T) {
	var u upTrack
	u.codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	u.kind = webrtc.RTPCodecTypeVideo
	for i := 0; i < cacheSize+10; i++ {
		u.cache.put(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000}, Payload: vp8Frame(i == 0)})
	}
	if run := u.keyframeRun(); run != nil {
		t.Fatalf("replayed %d packets from a keyframe the ring overwrote", len(run))
	}
	u.cache.put(&rtp.Packet{Header: rtp.Header{SequenceNumber: cacheSize + 10, Timestamp: 1 << 30}, Payload: vp8Frame(true)})
	u.cache.put(&rtp.Packet{Header: rtp.Header{SequenceNumber: cacheSize + 11, Timestamp: 1<<30 + 3000}, Payload: vp8Frame(false)})
	if run := u.keyframeRun(); len(run) != 2 || run[0].SequenceNumber != cacheSize+10 {
		t.Fatalf("keyframe run = %d packets, want the last keyframe and its delta", len(run))
	}
}
