package recorder

import "github.com/pion/rtp"

// reorder is a small jitter buffer for codecs whose packets are whole samples (Opus): it
// releases packets in sequence order, waits for a missing one until depth packets are queued
// behind it, then skips the gap (the loss shows up as a gap in the timestamps).
type reorder struct {
	depth   int
	next    uint16
	started bool
	buf     map[uint16]*rtp.Packet
}

func newReorder(depth int) *reorder { return &reorder{depth: depth, buf: map[uint16]*rtp.Packet{}} }

func (r *reorder) push(p *rtp.Packet) {
	if !r.started {
		r.next, r.started = p.SequenceNumber, true
	}
	if int16(p.SequenceNumber-r.next) < 0 {
		return // too late (already skipped)
	}
	r.buf[p.SequenceNumber] = p
}

// pop returns the next packet in order, or nil when it must wait. flush releases everything.
func (r *reorder) pop(flush bool) *rtp.Packet {
	for len(r.buf) > 0 {
		if p, ok := r.buf[r.next]; ok {
			delete(r.buf, r.next)
			r.next++
			return p
		}
		if len(r.buf) < r.depth && !flush {
			return nil
		}
		// Skip to the oldest packet we have.
		best := uint16(0)
		first := true
		for s := range r.buf {
			if first || int16(s-best) < 0 {
				best, first = s, false
			}
		}
		r.next = best
	}
	return nil
}
