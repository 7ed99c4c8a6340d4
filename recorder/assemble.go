package recorder

import "github.com/pion/rtp"

// frameAssembler puts the RTP packets of one video track back together into frames, in sequence
// order, for the chunk file. It does what Pion's samplebuilder did for the recorder at a fixed,
// small cost per packet (issue 16, docs/PERFORMANCE.md "The recorder's cost per room"):
//
//   - a ring of asmSlots packets instead of two 65,536-entry pointer arrays per track (1 MiB that
//     the garbage collector scanned on every cycle, per recorded room), and each packet's payload
//     copied into an array taken from a small free list instead of a cloned rtp.Packet per
//     packet: what a track keeps is about what it holds at once (a frame or two), not a full ring;
//   - no scan of the whole buffered range on every push (samplebuilder's tooOld): the oldest
//     timestamp is looked up only while the head of the sequence is missing;
//   - a frame is handed out as soon as its last packet (marker / partition tail) is in, not when
//     the next frame's first packet arrives: one frame less in memory at a SIGKILL.
//
// A missing packet is waited for until maxLate packets are buffered behind it or the media
// buffered spans maxDelay (a NACK had the time to repair it); then it is given up, and with it
// the frame it belonged to. The next frame handed out reports how many packets were given up
// (dropped > 0): what follows may reference the lost frame, and the sink skips to the next
// keyframe. Empty payloads (padding) are skipped without counting as a loss.
type frameAssembler struct {
	depack   rtp.Depacketizer
	maxLate  uint16 // packets buffered behind a missing one before it is given up
	maxDelay uint32 // RTP units of media buffered behind a missing one before it is given up
	slots    [asmSlots]asmSlot
	started  bool
	head     uint16 // the oldest sequence number not handed out nor given up
	tail     uint16 // one past the newest sequence number pushed
	newestTS uint32 // the timestamp of the packet at tail-1
	dropped  uint16 // packets given up since the last frame handed out
	frame    []byte // the frame pop hands out (valid until the next pop)
	free     [][]byte
}

// asmSlots is the ring's size: more than maxLate+1 (the most it holds), a power of two.
// asmFree bounds the payload arrays kept for reuse.
const (
	asmSlots = 512
	asmFree  = 64
)

type asmSlot struct {
	ok      bool
	marker  bool
	seq     uint16
	ts      uint32
	payload []byte // a copy of the packet's payload; the array is reused
}

func newFrameAssembler(maxLate uint16, depack rtp.Depacketizer, maxDelay uint32) *frameAssembler {
	return &frameAssembler{depack: depack, maxLate: min(maxLate, asmSlots-2), maxDelay: maxDelay}
}

// push adds a packet (its payload is copied: the caller may reuse pkt).
func (a *frameAssembler) push(pkt *rtp.Packet) {
	seq := pkt.SequenceNumber
	if !a.started {
		a.started, a.head, a.tail = true, seq, seq
	}
	if int16(seq-a.head) < 0 {
		return // older than what was handed out or given up: too late
	}
	if seq-a.head >= asmSlots-1 {
		// Far ahead of what is buffered (a jump in the numbering): give up everything held.
		for ; a.head != a.tail; a.head++ {
			a.release(&a.slots[a.head%asmSlots])
		}
		a.dropped++
		a.head, a.tail = seq, seq
	}
	sl := &a.slots[seq%asmSlots]
	if sl.ok && sl.seq == seq {
		return // a duplicate (a retransmission that raced the original)
	}
	if sl.ok {
		a.release(sl) // cannot be: the ring holds at most maxLate+1 (a stale slot)
	}
	var buf []byte
	if n := len(a.free); n > 0 {
		buf, a.free = a.free[n-1], a.free[:n-1]
	}
	sl.ok, sl.marker, sl.seq, sl.ts = true, pkt.Marker, seq, pkt.Timestamp
	sl.payload = append(buf, pkt.Payload...)
	if int16(seq-a.tail) >= 0 {
		a.tail, a.newestTS = seq+1, pkt.Timestamp
	}
}

// giveUp reports whether the head of the sequence (missing, or a frame not complete yet) is
// waited for no longer: too many packets behind it, or too much media time.
func (a *frameAssembler) giveUp(flush bool) bool {
	if flush || a.tail-a.head > a.maxLate {
		return true
	}
	for i := a.head; i != a.tail; i++ {
		if s := &a.slots[i%asmSlots]; s.ok {
			d := s.ts - a.newestTS
			if int32(d) < 0 {
				d = -d
			}
			return d > a.maxDelay
		}
	}
	return false
}

// release empties a slot, keeping its array for reuse.
func (a *frameAssembler) release(s *asmSlot) {
	if s.payload != nil && len(a.free) < asmFree {
		a.free = append(a.free, s.payload[:0])
	}
	s.ok, s.payload = false, nil
}

// drop gives up the packet at the head of the sequence.
func (a *frameAssembler) drop() {
	a.release(&a.slots[a.head%asmSlots])
	a.head++
	a.dropped++
}

// pop returns the next whole frame in sequence order (its depacketized bytes, valid until the
// next call), its RTP timestamp and how many packets were given up before it; ok is false when
// the next frame is not complete yet. flush gives up whatever is missing (at the end).
func (a *frameAssembler) pop(flush bool) (frame []byte, ts uint32, dropped uint16, ok bool) {
	for a.head != a.tail {
		h := &a.slots[a.head%asmSlots]
		if !h.ok {
			if !a.giveUp(flush) {
				return nil, 0, 0, false
			}
			a.drop()
			continue
		}
		if len(h.payload) == 0 { // padding: no media
			a.release(h)
			a.head++
			continue
		}
		if !a.depack.IsPartitionHead(h.payload) {
			a.drop() // the rest of a frame whose start was given up
			continue
		}
		end, whole := a.head, false
		for i := a.head; i != a.tail; i++ {
			s := &a.slots[i%asmSlots]
			if !s.ok {
				break
			}
			if s.ts != h.ts { // the next frame began: this one ended without a marker
				end, whole = i, true
				break
			}
			if a.depack.IsPartitionTail(s.marker, s.payload) {
				end, whole = i+1, true
				break
			}
		}
		if !whole {
			if !a.giveUp(flush) {
				return nil, 0, 0, false
			}
			a.drop()
			continue
		}
		ts = h.ts
		a.frame = a.frame[:0]
		bad := false
		n := end - a.head
		for i := a.head; i != end; i++ {
			s := &a.slots[i%asmSlots]
			if !bad && len(s.payload) > 0 {
				out, err := a.depack.Unmarshal(s.payload)
				if err != nil {
					bad = true
				} else {
					a.frame = append(a.frame, out...)
				}
			}
			a.release(s)
		}
		a.head = end
		if bad {
			a.dropped += n
			continue
		}
		dropped, a.dropped = a.dropped, 0
		return a.frame, ts, dropped, true
	}
	return nil, 0, 0, false
}
