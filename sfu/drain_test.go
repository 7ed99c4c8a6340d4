package sfu_test

import (
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// A room with viewers ends: once the node has had no room for a few seconds, the send buffers its
// viewers used leave the pools (udpsend's TestDrainReleasesPooledBuffersAtTheNextGC shows they are
// then freed at the next GC), instead of staying two GC cycles — minutes on an idle server.
func TestEndedRoomsSendBuffersLeaveThePools(t *testing.T) {
	s := newSFU(t)
	pub, _ := publish(t, s, "drain", client.PublisherParams{})
	var viewers []*client.Viewer
	for range 4 {
		v, err := watch(t, s, "drain")
		if err != nil {
			t.Fatal(err)
		}
		viewers = append(viewers, v)
	}
	for _, v := range viewers {
		waitFor(t, 10*time.Second, func() bool { return v.Stats().VideoPackets > 100 })
	}
	drains0, _ := sfu.SendPoolDrains(s)
	time.Sleep(6 * time.Second) // a live room: the tick does not drain
	if d, _ := sfu.SendPoolDrains(s); d != drains0 {
		t.Fatalf("the pools were drained %d times while a room was live", d-drains0)
	}
	for _, v := range viewers {
		_ = v.Close()
	}
	_ = pub.Close()
	waitFor(t, 10*time.Second, func() bool { _, ok := s.Room("drain"); return !ok })
	waitFor(t, 10*time.Second, func() bool { d, _ := sfu.SendPoolDrains(s); return d > drains0 })
	d, n := sfu.SendPoolDrains(s)
	if n == 0 {
		t.Fatalf("the drain after the room ended let go of no buffer (drains %d)", d)
	}
	t.Logf("after the room ended: %d drain(s), %d pooled send buffers let go", d-drains0, n)
}
