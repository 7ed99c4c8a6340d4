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

// layerSink counts packets per SSRC, through WriteRTP and WriteLayerRTP apart.
type layerSink struct {
	want    bool
	mu      sync.Mutex
	offered []sfu.LayerInfo
	plain   map[uint32]int // video packets by SSRC through WriteRTP
	layered map[uint32]int // through WriteLayerRTP
	rids    map[uint32]string
	closed  bool
}

func newLayerSink(want bool) *layerSink {
	return &layerSink{want: want, plain: map[uint32]int{}, layered: map[uint32]int{}, rids: map[uint32]string{}}
}

func (s *layerSink) WantLayers(l []sfu.LayerInfo) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offered = append([]sfu.LayerInfo(nil), l...)
	return s.want
}

func (s *layerSink) WriteRTP(t sfu.TrackInfo, p *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Kind == webrtc.RTPCodecTypeVideo {
		s.plain[p.SSRC]++
	}
	return nil
}

func (s *layerSink) WriteLayerRTP(l sfu.LayerInfo, p *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.layered[l.SSRC]++
	s.rids[l.SSRC] = l.RID
	return nil
}

func (s *layerSink) Close() error { s.mu.Lock(); s.closed = true; s.mu.Unlock(); return nil }

func (s *layerSink) counts() (offered []sfu.LayerInfo, plain, layered map[uint32]int, rids map[uint32]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[uint32]int) map[uint32]int {
		out := map[uint32]int{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	r := map[uint32]string{}
	for k, v := range s.rids {
		r[k] = v
	}
	return append([]sfu.LayerInfo(nil), s.offered...), cp(s.plain), cp(s.layered), r
}

// A LayerSink that wants the layers gets the best one through WriteRTP (as every sink does)
// and the two others through WriteLayerRTP, each with its RID and rank, and every layer is
// asked for a keyframe at attach; a LayerSink that declines, and a plain Sink of the same
// room (the tee's recorder side), get the best layer only.
func TestLayerSinkGetsEveryLayer(t *testing.T) {
	for _, want := range []bool{true, false} {
		sink := newLayerSink(want)
		plain := &countingSink{}
		s, err := sfu.New(sfu.Config{Loopback: true, OnLive: func(r sfu.LiveRoom) sfu.Sink {
			return teeOf{sink, plain}
		}})
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := publish(t, s, "layers", client.PublisherParams{Simulcast: true, VideoMime: webrtc.MimeTypeH264, KeyframesOnRequest: true})
		waitFor(t, 10*time.Second, func() bool {
			_, p, l, _ := sink.counts()
			n := 0
			for _, c := range l {
				if c > 30 {
					n++
				}
			}
			return len(p) == 1 && (n == 2 || !want && plain.video.Load() > 60)
		})
		offered, p, l, rids := sink.counts()
		if len(offered) != 3 {
			t.Fatalf("want %v: offered %+v", want, offered)
		}
		var best uint32
		for i, o := range offered {
			if o.Rank != i || o.RID != client.SimulcastRIDs[i] || o.Best != (i == 2) || o.Index != offered[0].Index || o.Kind != webrtc.RTPCodecTypeVideo {
				t.Errorf("layer %d: %+v", i, o)
			}
			if o.Best {
				best = o.SSRC
			}
		}
		if len(p) != 1 || p[best] == 0 {
			t.Errorf("want %v: WriteRTP video by SSRC %v, want only the best layer %d", want, p, best)
		}
		if !want {
			if len(l) != 0 {
				t.Errorf("a sink that declined got layers %v", l)
			}
		} else {
			for _, o := range offered[:2] {
				if l[o.SSRC] == 0 || rids[o.SSRC] != o.RID {
					t.Errorf("layer %s: %d packets, rid %q", o.RID, l[o.SSRC], rids[o.SSRC])
				}
			}
			if _, ok := l[best]; ok {
				t.Error("the best layer came through WriteLayerRTP too")
			}
			for _, rid := range client.SimulcastRIDs {
				if pub.LayerPLIs(rid) == 0 {
					t.Errorf("layer %s was not asked for a keyframe", rid)
				}
			}
		}
		_ = pub.Close()
		waitFor(t, 15*time.Second, func() bool { return plain.closed.Load() == 1 })
		s.Close()
	}
}

// teeOf is a LayerSink made of a LayerSink and a plain Sink, as the server tees the recorder
// with the live HLS: the plain one gets what WriteRTP carries, the layers go to the other.
type teeOf struct {
	l *layerSink
	p sfu.Sink
}

func (t teeOf) WriteRTP(info sfu.TrackInfo, p *rtp.Packet) error {
	_ = t.p.WriteRTP(info, p)
	return t.l.WriteRTP(info, p)
}
func (t teeOf) WantLayers(l []sfu.LayerInfo) bool                  { return t.l.WantLayers(l) }
func (t teeOf) WriteLayerRTP(l sfu.LayerInfo, p *rtp.Packet) error { return t.l.WriteLayerRTP(l, p) }
func (t teeOf) Close() error                                       { _ = t.p.Close(); return t.l.Close() }
