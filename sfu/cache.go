package sfu

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// cacheSize is how many recent packets of a track are kept for retransmission (~5 s of a
// 1.5 Mbps video track). It must be a power of two.
const cacheSize = 1024

// packetCache holds the most recent packets of one publisher track, shared by all its viewers:
// NACKs are answered from here instead of from a per-viewer copy of the stream. Packets are
// immutable once the read loop has published them, so the cache stores pointers, not copies.
// One writer (the read loop), many readers (the viewers' RTCP loops), no locks.
type packetCache struct {
	slots [cacheSize]atomic.Pointer[rtp.Packet]
}

func (c *packetCache) put(p *rtp.Packet) { c.slots[p.SequenceNumber&(cacheSize-1)].Store(p) }

func (c *packetCache) get(seq uint16) *rtp.Packet {
	p := c.slots[seq&(cacheSize-1)].Load()
	if p == nil || p.SequenceNumber != seq {
		return nil
	}
	return p
}

// resendGuard stops a viewer's repeated NACKs for one packet from multiplying retransmissions:
// a sequence number is resent at most once per resendHoldoff, and at most maxResendPerSec
// packets a second (a quarter of a 1.5 Mbps video track), so a viewer on a bad link cannot
// multiply its own load.
// Used only by the viewer's RTCP goroutine for one track.
type resendGuard struct {
	seq         [64]uint16
	at          [64]int64
	windowStart int64
	inWindow    int
}

const (
	resendHoldoff   = 100 * time.Millisecond
	maxResendPerSec = 60
)

// exhausted reports whether this second's resend budget is spent.
func (g *resendGuard) exhausted(now int64) bool {
	if now-g.windowStart > int64(time.Second) {
		g.windowStart, g.inWindow = now, 0
	}
	return g.inWindow >= maxResendPerSec
}

func (g *resendGuard) allow(seq uint16, now int64) bool {
	if g.exhausted(now) {
		return false
	}
	i := seq & 63
	if g.seq[i] == seq && g.at[i] != 0 && now-g.at[i] < int64(resendHoldoff) {
		return false
	}
	g.seq[i], g.at[i] = seq, now
	g.inWindow++
	return true
}
