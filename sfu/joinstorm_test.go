package sfu_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// A join storm: 50 viewers join one room at once (each asks for a keyframe when it connects);
// the publisher gets the requests coalesced by the per-track throttle, at most one per
// KeyframeInterval (300 ms) over the storm plus the one sent at its end, not one per viewer.
func TestJoinStormCoalescesPLIs(t *testing.T) {
	const viewers = 50
	s := newSFU(t)
	pub := newPausablePublisher(t, s, "storm")
	time.Sleep(time.Second) // the room's first requests (none here: no sink) are behind us
	before := pub.plis.Load()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, viewers)
	vs := make([]*client.Viewer, viewers)
	for i := range vs {
		v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = v
		t.Cleanup(func() { _ = v.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errs <- v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
				_, ans, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: "storm", Offer: offer})
				return ans, err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, func() bool { return s.Stats().Viewers == viewers })
	storm := time.Since(start)
	time.Sleep(500 * time.Millisecond) // the request merged at the end of the last window
	plis := pub.plis.Load() - before
	limit := int64(storm/(300*time.Millisecond)) + 2
	t.Logf("%d viewers joined in %s: %d PLIs to the publisher (limit %d; %d received by the SFU)",
		viewers, storm.Round(time.Millisecond), plis, limit, s.Stats().PLIsReceived)
	if plis == 0 {
		t.Error("no keyframe request reached the publisher")
	}
	if plis > limit {
		t.Errorf("%d PLIs for %d joins in %s: not coalesced (want ≤ %d)", plis, viewers, storm, limit)
	}
	for _, v := range vs {
		waitFor(t, 10*time.Second, func() bool { return v.Stats().FirstKeyframe > 0 })
	}
}
