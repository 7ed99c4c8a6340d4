package client_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// The lean viewer measures what the full one does (packets of both tracks, no loss, the first
// keyframe, publisher → viewer latency) while Pion on its side never sees the media.
func TestLeanViewerMeasuresLikeTheFullOne(t *testing.T) {
	for _, pionSend := range []bool{false, true} { // the SFU as DTLS server, and as client
		t.Run(map[bool]string{false: "direct", true: "pion"}[pionSend], func(t *testing.T) { testLeanViewer(t, pionSend) })
	}
}

func testLeanViewer(t *testing.T, pionSend bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := liveSFU(t, ctx, "lean", pionSend)
	var latencies atomic.Int64
	watch := func(lean bool) *client.Viewer {
		v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, Lean: lean, TrackRecovery: true,
			OnLatency: func(time.Duration) {
				if lean {
					latencies.Add(1)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = v.Close() })
		if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
			_, a, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: "lean", Offer: offer})
			return a, err
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	lean, full := watch(true), watch(false)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ls, fs := lean.Stats(), full.Stats()
		if ls.VideoPackets > 300 && ls.AudioPackets > 50 && ls.FirstKeyframe > 0 && latencies.Load() > 10 && fs.VideoPackets > 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lean %+v (latencies %d); full %+v", ls, latencies.Load(), fs)
		}
	}
	ls := lean.Stats()
	if ls.Lost != 0 {
		t.Errorf("lean viewer lost %d", ls.Lost)
	}
	if miss, span := lean.Missing(100); miss != 0 {
		t.Errorf("lean viewer missed %d of %d", miss, span)
	}
	if len(ls.Tracks) != 2 {
		t.Errorf("lean viewer tracks %v", ls.Tracks)
	}
	t.Logf("lean: %+v, %d latency samples; full: %+v", ls, latencies.Load(), full.Stats())
}

// liveSFU starts an SFU on loopback (pionSend: Pion's send path) with a client publisher live in
// room; both close with the test.
func liveSFU(t *testing.T, ctx context.Context, room string, pionSend bool) *sfu.SFU {
	t.Helper()
	s, err := sfu.New(sfu.Config{Loopback: true, LiveGrace: 500 * time.Millisecond, PionSend: pionSend})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	if err := pub.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Publish(ctx, sfu.PublishParams{Room: room, Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := s.Room(room); ok {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("room not live")
		}
	}
}
