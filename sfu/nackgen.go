package sfu

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// nackGen asks a publisher on the direct receive path for the video packets that did not
// arrive (generic NACKs, RFC 4585). Pion's NACK generator ticks every 100 ms per publisher from
// connect to close; this one has a timer that is armed only while something is missing, so an
// idle publisher, or one on a clean path, wakes nothing. A missing sequence number is asked for
// after nackReorder (a reordered packet may still come), then every nackRetry, nackTries times at
// most; a gap wider than nackWindow is not asked for (it is a restart or a long outage: the
// viewers get a keyframe instead).
type nackGen struct {
	mu      sync.Mutex
	streams map[uint32]*nackStream
	timer   *time.Timer
	due     time.Time // when the timer fires; zero: not armed
	closed  bool
	sender  uint32
	write   func([]rtcp.Packet)
}

const (
	nackReorder = 20 * time.Millisecond
	nackRetry   = 100 * time.Millisecond
	nackTries   = 10
	nackWindow  = 512
)

type nackStream struct {
	started bool
	last    uint16 // the newest sequence number seen
	missing map[uint16]*nackItem
}

type nackItem struct {
	due   time.Time
	tries int
}

func newNackGen(write func([]rtcp.Packet)) *nackGen {
	return &nackGen{streams: map[uint32]*nackStream{}, sender: rand.Uint32(), write: write}
}

// observe records a packet of the stream ssrc (the track's read loop).
func (g *nackGen) observe(ssrc uint32, seq uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	st := g.streams[ssrc]
	if st == nil {
		st = &nackStream{missing: map[uint16]*nackItem{}}
		g.streams[ssrc] = st
	}
	if !st.started {
		st.started, st.last = true, seq
		return
	}
	d := seq - st.last
	switch {
	case d == 0:
	case d < 0x8000: // newer
		if d > 1 && d <= nackWindow {
			due := time.Now().Add(nackReorder)
			for s := st.last + 1; s != seq; s++ {
				st.missing[s] = &nackItem{due: due}
			}
			g.arm(due)
		} else if d > nackWindow {
			clear(st.missing)
		}
		st.last = seq
	default: // older: a retransmission or a reordered packet
		delete(st.missing, seq)
	}
}

// arm makes the timer fire by at. Called with g.mu held.
func (g *nackGen) arm(at time.Time) {
	if !g.due.IsZero() && !g.due.After(at) {
		return
	}
	g.due = at
	d := time.Until(at)
	if g.timer == nil {
		g.timer = time.AfterFunc(d, g.fire)
	} else {
		g.timer.Reset(d)
	}
}

func (g *nackGen) fire() {
	g.mu.Lock()
	g.due = time.Time{}
	if g.closed {
		g.mu.Unlock()
		return
	}
	now := time.Now()
	var pkts []rtcp.Packet
	var next time.Time
	for ssrc, st := range g.streams {
		var seqs []uint16
		for s, it := range st.missing {
			if st.last-s > nackWindow || it.tries >= nackTries {
				delete(st.missing, s)
				continue
			}
			if it.due.After(now) {
				if next.IsZero() || it.due.Before(next) {
					next = it.due
				}
				continue
			}
			seqs = append(seqs, s)
			it.tries++
			it.due = now.Add(nackRetry)
			if next.IsZero() || it.due.Before(next) {
				next = it.due
			}
		}
		if len(seqs) > 0 {
			slices.SortFunc(seqs, func(a, b uint16) int { return int(int16(a - b)) })
			pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: g.sender, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
		}
	}
	if !next.IsZero() {
		g.arm(next)
	}
	write := g.write
	g.mu.Unlock()
	if len(pkts) > 0 {
		write(pkts)
	}
}

func (g *nackGen) close() {
	g.mu.Lock()
	g.closed = true
	if g.timer != nil {
		g.timer.Stop()
	}
	g.mu.Unlock()
}

// pending is how many sequence numbers are waiting for a retransmission (tests).
func (g *nackGen) pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, st := range g.streams {
		n += len(st.missing)
	}
	return n
}
