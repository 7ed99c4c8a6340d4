package sfu_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

type countingSink struct {
	video, audio atomic.Int64
	closed       atomic.Int32
	mu           sync.Mutex
	tracks       []sfu.TrackInfo
}

func (c *countingSink) WriteRTP(t sfu.TrackInfo, _ *rtp.Packet) error {
	if t.Kind == webrtc.RTPCodecTypeVideo {
		c.video.Add(1)
	} else {
		c.audio.Add(1)
	}
	return nil
}

func (c *countingSink) Close() error { c.closed.Add(1); return nil }

func TestSinkGetsEveryTrackUntilRoomEnds(t *testing.T) {
	sink := &countingSink{}
	var rooms atomic.Int32
	s, err := sfu.New(sfu.Config{Loopback: true, OnLive: func(r sfu.LiveRoom) sfu.Sink {
		rooms.Add(1)
		sink.mu.Lock()
		sink.tracks = r.Tracks()
		sink.mu.Unlock()
		return sink
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub, _ := publish(t, s, "rec", client.PublisherParams{})
	waitFor(t, 5*time.Second, func() bool { return sink.video.Load() > 30 && sink.audio.Load() > 10 })
	if pub.PLIs() == 0 {
		t.Error("attaching a sink did not request a keyframe")
	}
	sink.mu.Lock()
	if len(sink.tracks) != 2 || sink.tracks[0].Index != 0 || sink.tracks[1].Index != 1 {
		t.Errorf("tracks = %+v", sink.tracks)
	}
	sink.mu.Unlock()
	_ = pub.Close()
	waitFor(t, 15*time.Second, func() bool { return sink.closed.Load() == 1 })
	if rooms.Load() != 1 {
		t.Errorf("OnLive called %d times", rooms.Load())
	}
}
