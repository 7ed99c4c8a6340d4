package sfu_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

func newSFU(t *testing.T) *sfu.SFU {
	t.Helper()
	s, err := sfu.New(sfu.Config{Loopback: true, LiveGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func publish(t *testing.T, s *sfu.SFU, room string, p client.PublisherParams) (*client.Publisher, *sfu.Publisher) {
	t.Helper()
	p.Loopback = true
	pub, err := client.NewPublisher(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	var sp *sfu.Publisher
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = pub.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		p, ans, err := s.Publish(ctx, sfu.PublishParams{Room: room, Offer: offer, Owner: "owner-" + room})
		sp = p
		return ans, err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { _, ok := s.Room(room); return ok })
	return pub, sp
}

func watch(t *testing.T, s *sfu.SFU, room string) (*client.Viewer, error) {
	t.Helper()
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, ans, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: room, Offer: offer})
		return ans, err
	})
	return v, err
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMediaFlowsToViewers(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("flow", func(t *testing.T) {
		s := newSFU(t)
		pub, _ := publish(t, s, "shop1", client.PublisherParams{})
		var viewers []*client.Viewer
		for i := 0; i < 3; i++ {
			v, err := watch(t, s, "shop1")
			if err != nil {
				t.Fatal(err)
			}
			viewers = append(viewers, v)
		}
		for i, v := range viewers {
			waitFor(t, 5*time.Second, func() bool {
				st := v.Stats()
				return st.VideoPackets > 30 && st.AudioPackets > 10 && st.FirstKeyframe > 0
			})
			st := v.Stats()
			t.Logf("viewer %d: %d packets, first keyframe after %s, lost %d", i, st.Packets, st.FirstKeyframe, st.Lost)
		}
		if pub.PLIs() == 0 {
			t.Error("the publisher got no keyframe request when viewers joined")
		}
		info, ok := s.Room("shop1")
		if !ok || info.Viewers != 3 || len(info.Codecs) != 2 {
			t.Errorf("room info = %+v, %v; want 3 viewers and 2 codecs", info, ok)
		}
		st := s.Stats()
		if st.ForwardLatency.Count == 0 || st.ForwardLatency.Sum <= 0 {
			t.Errorf("no forwarding latency samples: %+v", st.ForwardLatency)
		}
		if st.Rooms != 1 || st.Publishers != 1 || st.Viewers != 3 || st.PacketsOut == 0 || st.PacketsIn == 0 {
			t.Errorf("stats = %+v", st)
		}
		for _, v := range viewers {
			_ = v.Close()
		}
		_ = pub.Close()
		_ = s.Close()
		st = s.Stats()
		if st.Rooms != 0 || st.Publishers != 0 || st.Viewers != 0 {
			t.Errorf("after close: stats = %+v", st)
		}
	})
	checkGoroutines(t, before)
}

func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutine leak: %d before, %d after\n%s", before, n, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRefusals(t *testing.T) {
	s := newSFU(t)
	ctx := context.Background()
	if _, _, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: "nobody", Offer: "v=0"}); !errors.Is(err, sfu.ErrRoomNotLive) {
		t.Errorf("subscribe to empty room: %v, want ErrRoomNotLive", err)
	}
	if _, _, err := s.Publish(ctx, sfu.PublishParams{Room: "bad", Offer: "garbage"}); !errors.Is(err, sfu.ErrBadOffer) {
		t.Errorf("garbage offer: %v, want ErrBadOffer", err)
	}
	if _, ok := s.Room("bad"); ok {
		t.Error("a failed publish left a room behind")
	}
	publish(t, s, "taken", client.PublisherParams{})
	pub2, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub2.Close()
	err = pub2.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, ans, err := s.Publish(ctx, sfu.PublishParams{Room: "taken", Offer: offer, Owner: "someone else"})
		return ans, err
	})
	if !errors.Is(err, sfu.ErrRoomBusy) {
		t.Errorf("second publisher: %v, want ErrRoomBusy", err)
	}
}

func TestRoomEndClosesViewersAndEmitsEvents(t *testing.T) {
	s := newSFU(t)
	events, cancel := s.Watch("r1")
	defer cancel()
	pub, _ := publish(t, s, "r1", client.PublisherParams{})
	v, err := watch(t, s, "r1")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return v.Stats().VideoPackets > 0 })
	_ = pub.Close() // publisher vanishes: its PC closes, DTLS close_notify reaches the SFU
	select {
	case <-v.Disconnected():
	case <-time.After(15 * time.Second):
		t.Fatal("viewer not disconnected after the publisher left")
	}
	var kinds []string
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev := <-events:
			kinds = append(kinds, ev.Kind.String())
			if ev.Kind == sfu.EventEnded {
				if got := strings.Join(kinds, ","); !strings.HasPrefix(got, "live,status") {
					t.Errorf("events = %s", got)
				}
				waitFor(t, 5*time.Second, func() bool { st := s.Stats(); return st.Viewers == 0 && st.Publishers == 0 && st.Rooms == 0 })
				return
			}
		case <-timeout:
			t.Fatalf("no ended event; got %v", kinds)
		}
	}
}

func TestTakeoverBySameOwner(t *testing.T) {
	s := newSFU(t)
	publish(t, s, "r2", client.PublisherParams{})
	// The same owner reconnects (e.g. a browser after a network change): it takes the room over.
	publish(t, s, "r2", client.PublisherParams{})
	if st := s.Stats(); st.Publishers != 1 {
		t.Errorf("publishers = %d after takeover, want 1", st.Publishers)
	}
}
