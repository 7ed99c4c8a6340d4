package sfu

import (
	"context"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
)

// A viewer that stops reading (its writer is stuck) loses only its own packets: the read loop
// never waits for it and the other viewers get everything.
func TestStalledViewerDoesNotAffectOthers(t *testing.T) {
	s, err := New(Config{Loopback: true, LiveGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Publish(ctx, PublishParams{Room: "slow", Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !s.rooms["slow"].isLive() {
		if time.Now().After(deadline) {
			t.Fatal("room not live")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	r := s.rooms["slow"]
	s.mu.Unlock()

	// The stuck viewer: a tiny queue nobody drains.
	stuck := &Subscriber{room: r, queue: make(chan outPacket, 8), done: make(chan struct{})}
	for _, u := range r.snapshotTracks() {
		u.attach(&downTrack{sub: stuck, up: u})
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
	for v.Stats().VideoPackets < 200 {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("healthy viewer got only %d video packets", v.Stats().VideoPackets)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := v.Stats(); st.Lost != 0 {
		t.Errorf("healthy viewer lost %d packets next to a stalled one", st.Lost)
	}
	if d := s.Stats().Dropped; d == 0 {
		t.Error("the stalled viewer's packets were not dropped (counted)")
	}
}
