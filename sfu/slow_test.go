package sfu

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/relaycast/relaycast/client"
)

// blockingWriter is a viewer socket that never takes a packet.
type blockingWriter struct{ release chan struct{} }

func (b blockingWriter) WriteRTP(*rtp.Header, []byte) (int, error) { <-b.release; return 0, nil }
func (b blockingWriter) Write([]byte) (int, error)                 { <-b.release; return 0, nil }

// A writer group that stops (its viewers' writes block) loses only its own packets: the read loop
// never waits for it and viewers in other groups get everything. (Real writes never block: the
// ICE socket queues datagrams and drops when full; this test forces the worst case.)
func TestStalledWriterDoesNotAffectOthers(t *testing.T) {
	s, r := liveRoom(t, "slow")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deadline := time.Now().Add(20 * time.Second)

	// A full group of stuck viewers per track, so the real viewer lands in a group of its own.
	release := make(chan struct{})
	defer close(release)
	for _, u := range r.snapshotTracks() {
		for i := 0; i < groupSize; i++ {
			lt := newLocalTrack(u.codec, u.kind, "x", "x")
			lt.b.Store(&binding{w: blockingWriter{release}})
			u.addViewer(&downTrack{up: u, local: lt})
		}
	}

	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Subscribe(ctx, SubscribeParams{Room: "slow", Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	for v.Stats().VideoPackets < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("healthy viewer got only %d video packets", v.Stats().VideoPackets)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := v.Stats(); st.Lost != 0 {
		t.Errorf("healthy viewer lost %d packets next to a stalled group", st.Lost)
	}
	if d := s.Stats().Dropped; d == 0 {
		t.Error("the stalled group's packets were not dropped (counted)")
	}
}

// liveRoom starts an SFU with a synthetic publisher in room and returns them once it is live.
func liveRoom(t *testing.T, room string) (*SFU, *room) {
	t.Helper()
	return liveRoomWith(t, room, Config{})
}

// liveRoomWith is liveRoom with more settings (Loopback and LiveGrace are set here).
func liveRoomWith(t testing.TB, room string, cfg Config) (*SFU, *room) {
	t.Helper()
	cfg.Loopback, cfg.LiveGrace = true, 500*time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	if err := pub.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Publish(ctx, PublishParams{Room: room, Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := s.Room(room); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s not live", room)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s, s.rooms[room]
}
