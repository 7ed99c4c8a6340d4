package sfu

import (
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/client"
)

// fakeTrack is an IncomingTrack that is not a WebRTC track (as a relay from another node will
// be): it serves VP8 packets from a channel, counts keyframe requests and unblocks on Close.
type fakeTrack struct {
	pkts      chan []byte
	done      chan struct{}
	once      sync.Once
	keyframes atomic.Int32
	closed    atomic.Bool
}

func newFakeTrack() *fakeTrack {
	return &fakeTrack{pkts: make(chan []byte, 64), done: make(chan struct{})}
}

func (f *fakeTrack) Read(b []byte) (int, error) {
	select {
	case p := <-f.pkts:
		return copy(b, p), nil
	case <-f.done:
		return 0, io.EOF
	}
}

func (f *fakeTrack) Codec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
}
func (f *fakeTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeVideo }
func (f *fakeTrack) RID() string               { return "" }
func (f *fakeTrack) SSRC() webrtc.SSRC         { return 4242 }
func (f *fakeTrack) RequestKeyframe() error    { f.keyframes.Add(1); return nil }
func (f *fakeTrack) Close() error {
	f.once.Do(func() { f.closed.Store(true); close(f.done) })
	return nil
}

// send feeds one-packet VP8 keyframes (payload descriptor S=1, frame tag P=0) until Close.
func (f *fakeTrack) send(t *testing.T) {
	for seq := uint16(0); ; seq++ {
		p := rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 4242, Marker: true},
			Payload: append([]byte{0x10, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a}, make([]byte, 500)...),
		}
		b, err := p.Marshal()
		if err != nil {
			t.Error(err)
			return
		}
		select {
		case f.pkts <- b:
		case <-f.done:
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A room fed from an IncomingTrack that is not a Pion track (no publisher peer connection) goes
// live, reaches a real Pion viewer, sends the viewer's keyframe requests to the track itself,
// and closes the track when the room ends, without leaking a goroutine.
func TestRoomFedFromIncomingTrack(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(Config{Loopback: true, LiveGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := newRoom(s, "relayed", "", "")
	r.expected = 1
	s.mu.Lock()
	s.rooms[r.name] = r
	s.mu.Unlock()

	in := newFakeTrack()
	var senders sync.WaitGroup
	senders.Add(1)
	go func() { defer senders.Done(); in.send(t) }()
	defer senders.Wait()
	r.addTrack(in, nil)
	info, ok := s.Room("relayed")
	if !ok || len(info.Codecs) != 1 || info.Codecs[0] != webrtc.MimeTypeVP8 {
		t.Fatalf("room not live with one VP8 track: %+v %v", info, ok)
	}

	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Subscribe(ctx, SubscribeParams{Room: "relayed", Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for v.Stats().VideoPackets < 50 || v.Stats().FirstKeyframe == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("viewer got %+v; sfu %+v", v.Stats(), s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if in.keyframes.Load() == 0 || s.Stats().PLIsSent == 0 {
		t.Errorf("the viewer's keyframe request did not reach the track: %d requests, %d PLIs sent", in.keyframes.Load(), s.Stats().PLIsSent)
	}

	r.end("relay stopped")
	if !in.closed.Load() {
		t.Error("the room did not close its incoming track when it ended")
	}
	select {
	case <-v.Disconnected():
	case <-time.After(10 * time.Second):
		t.Error("the viewer was not disconnected when the room ended")
	}
	_ = v.Close()
	senders.Wait()
	_ = s.Close()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before+2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}
