package sfu

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A sink (the recorder) that attaches to a room whose last keyframe has passed would otherwise
// start writing at the next one: up to a whole keyframe interval lost from a publisher that
// cannot answer the attach's keyframe request (a file publisher). Instead the sink gets the
// packets since each video track's latest keyframe from the track's packet cache, then the
// live ones. Nothing is tracked per packet for this: the cache is searched once, at attach.
//
// The seam: a track's sink downTrack is attached before its cache is read, and the read loop
// stores a packet in the cache before it looks at the sinks. So a packet the live path does not
// deliver to the sink is in the cache when it is read: the replay runs up to the newest cached
// packet (last), and live packets up to last are dropped as already replayed.
// Audio tracks are replayed over the same span of media time as the video, so that both tracks
// of the recording start together.

// replayTrack is what a sink gets of one track before its live packets.
type replayTrack struct {
	index int
	clock uint32
	pkts  []*rtp.Packet // in sequence order, all present
	last  uint16        // pkts[len(pkts)-1].SequenceNumber
	done  bool          // a live packet after last was seen: stop filtering
}

// newestCached returns the cached packet with the highest sequence number (serial order), or nil.
func (c *packetCache) newestCached() *rtp.Packet {
	var best *rtp.Packet
	for i := range c.slots {
		p := c.slots[i].Load()
		if p == nil {
			continue
		}
		if best == nil || int16(p.SequenceNumber-best.SequenceNumber) > 0 {
			best = p
		}
	}
	return best
}

// run returns the cached packets from first to last (inclusive), or nil if one is missing.
func (c *packetCache) run(first, last uint16) []*rtp.Packet {
	n := int(last-first) + 1
	if n > cacheSize {
		return nil
	}
	out := make([]*rtp.Packet, 0, n)
	for s := first; ; s++ {
		p := c.get(s)
		if p == nil {
			return nil
		}
		out = append(out, p)
		if s == last {
			return out
		}
	}
}

// keyframeRun finds, in a video track's cache, the packets from the start of the latest
// keyframe to the newest packet. It returns nil when there is none or the cache no longer holds
// all of it (the ring wrapped, a packet was lost): the sink then waits for the next keyframe.
func (u *upTrack) keyframeRun() []*rtp.Packet {
	codec := kindOfCodec(u.codec.MimeType)
	if codec == codecOther {
		return nil
	}
	head := u.cache.newestCached()
	if head == nil {
		return nil
	}
	last := head.SequenceNumber
	for back := 0; back < cacheSize; back++ {
		s := last - uint16(back)
		p := u.cache.get(s)
		if p == nil {
			return nil // a hole before any keyframe: nothing whole to replay
		}
		if !isKeyframeStart(codec, p.Payload) {
			continue
		}
		// The keyframe's picture may begin before this packet (SPS/PPS ahead of an IDR, the lower
		// spatial layers of a VP9 SVC picture): go back over the packets of the same timestamp.
		first := s
		for back+1 < cacheSize {
			q := u.cache.get(first - 1)
			if q == nil || q.Timestamp != p.Timestamp {
				break
			}
			first--
			back++
		}
		return u.cache.run(first, last)
	}
	return nil
}

// mediaSpan is the media time, in clock units, between two packets' timestamps.
func mediaSpan(a, b *rtp.Packet) uint32 { return b.Timestamp - a.Timestamp }

// audioRun returns the cached audio packets covering the last seconds of media time.
func (u *upTrack) audioRun(seconds float64) []*rtp.Packet {
	clock := u.codec.ClockRate
	if clock == 0 || seconds <= 0 {
		return nil
	}
	head := u.cache.newestCached()
	if head == nil {
		return nil
	}
	span := uint32(seconds * float64(clock))
	first := head.SequenceNumber
	for back := 1; back < cacheSize; back++ {
		p := u.cache.get(head.SequenceNumber - uint16(back))
		if p == nil || int32(mediaSpan(p, head)) < 0 || mediaSpan(p, head) > span {
			break
		}
		first = p.SequenceNumber
	}
	if first == head.SequenceNumber {
		return nil
	}
	return u.cache.run(first, head.SequenceNumber)
}

// sinkReplay builds what a sink just attached to ups gets before the live packets. It must run
// after every up's downTrack is attached (see the seam above). Nil when no video track has a
// whole keyframe run cached.
func sinkReplay(ups []*upTrack) []*replayTrack {
	var out []*replayTrack
	var seconds float64
	for _, u := range ups {
		if u.kind != webrtc.RTPCodecTypeVideo || u.codec.ClockRate == 0 {
			continue
		}
		pkts := u.keyframeRun()
		if len(pkts) == 0 {
			continue
		}
		seconds = max(seconds, float64(mediaSpan(pkts[0], pkts[len(pkts)-1]))/float64(u.codec.ClockRate))
		out = append(out, &replayTrack{index: u.info.Index, clock: u.codec.ClockRate, pkts: pkts, last: pkts[len(pkts)-1].SequenceNumber})
	}
	if len(out) == 0 {
		return nil
	}
	for _, u := range ups {
		if u.kind != webrtc.RTPCodecTypeAudio {
			continue
		}
		if pkts := u.audioRun(seconds); len(pkts) > 0 {
			out = append(out, &replayTrack{index: u.info.Index, clock: u.codec.ClockRate, pkts: pkts, last: pkts[len(pkts)-1].SequenceNumber})
		}
	}
	return out
}

// replayed reports whether a live packet was replayed already (so must not be written again).
// Only the sink's goroutine calls it; it costs a check of a few tracks until every replayed
// track's live packets have passed the seam.
func (f *sinkFeed) replayed(info TrackInfo, pkt *rtp.Packet) bool {
	if f.filtering == 0 {
		return false
	}
	for _, rt := range f.replay {
		if rt.index != info.Index || rt.done {
			continue
		}
		if int16(pkt.SequenceNumber-rt.last) <= 0 {
			return true
		}
		rt.done = true
		f.filtering--
	}
	return false
}

// writeReplay writes the replayed packets, track by track, before any live one. An AgedSink is
// told each packet's age, taken from its media time before the newest one (which had just
// arrived when the sink attached).
func (f *sinkFeed) writeReplay(infos map[int]TrackInfo) {
	aged, _ := f.sink.(AgedSink)
	for _, rt := range f.replay {
		info := infos[rt.index]
		newest := rt.pkts[len(rt.pkts)-1]
		for _, p := range rt.pkts {
			var err error
			if aged != nil && rt.clock > 0 {
				age := time.Duration(float64(mediaSpan(p, newest)) / float64(rt.clock) * float64(time.Second))
				err = aged.WriteAgedRTP(info, p, age)
			} else {
				err = f.sink.WriteRTP(info, p)
			}
			if err != nil {
				f.room.s.log.Warn("sink write failed", "room", f.room.name, "err", err)
				break
			}
		}
		rt.pkts = nil
	}
}
