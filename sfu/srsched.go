package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// Sender reports for every viewer on the direct path come from one goroutine per SFU, not one
// ticker goroutine per viewer: the viewers are spread over srSlots slots, the scheduler wakes
// every srTick and reports to one slot's viewers, so each viewer still gets its reports
// srInterval apart, the work is spread over the second, and N viewers cost 10 wake-ups a second
// instead of N.
//
// An idle SFU does not wake at all: a track that sent nothing for srQuiet is not a sender any
// more (RFC 3550 §6.4: a participant that has not sent during the last two report intervals
// stops sending SRs) and gets none; once a whole srQuiet passes with no report to send the
// scheduler stops its ticker, and the next packet any room receives (upTrack.readLoop: kick)
// starts it again. Viewers of a paused publisher, rooms with nothing arriving, cost no timer.
const (
	srSlots = 10
	srTick  = srInterval / srSlots
	srQuiet = 2 * srInterval
)

// srInterval is how often a viewer gets sender reports (as Pion's report interceptor).
const srInterval = time.Second

type srScheduler struct {
	s     *SFU
	mu    sync.Mutex
	slots [srSlots]map[*Subscriber]struct{}
	next  int // the slot of the next viewer (round robin)

	stopped atomic.Bool   // the ticker is stopped: kick starts it
	wake    chan struct{} // kick → run (1-buffered)
	wakes   atomic.Uint64 // ticks taken (the test seam for "no periodic wake-up when idle")
}

func newSRScheduler(s *SFU) *srScheduler {
	q := &srScheduler{s: s, wake: make(chan struct{}, 1)}
	for i := range q.slots {
		q.slots[i] = map[*Subscriber]struct{}{}
	}
	q.stopped.Store(true)
	return q
}

// add gives a viewer sender reports until remove.
func (q *srScheduler) add(sub *Subscriber) {
	q.mu.Lock()
	sub.srSlot = q.next
	q.slots[q.next][sub] = struct{}{}
	q.next = (q.next + 1) % srSlots
	q.mu.Unlock()
	q.kick()
}

// remove stops a viewer's sender reports (a no-op for one never added).
func (q *srScheduler) remove(sub *Subscriber) {
	q.mu.Lock()
	delete(q.slots[sub.srSlot], sub)
	q.mu.Unlock()
}

// kick starts the ticker if it is stopped; one atomic load otherwise (called per received packet).
// A nil scheduler (an SFU built by hand in a unit test) does nothing.
func (q *srScheduler) kick() {
	if q != nil && q.stopped.Load() && q.stopped.CompareAndSwap(true, false) {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// run is the scheduler's goroutine, until the SFU closes.
func (q *srScheduler) run() {
	defer q.s.wg.Done()
	t := time.NewTicker(srTick)
	t.Stop()
	var tick <-chan time.Time
	slot, quiet := 0, 0
	var subs []*Subscriber
	var pkts []rtcp.Packet
	for {
		select {
		case <-q.s.ctx.Done():
			t.Stop()
			return
		case <-q.wake:
			if tick == nil {
				t.Reset(srTick)
				tick = t.C
			}
			quiet = 0
			continue
		case <-tick:
		}
		q.wakes.Add(1)
		q.mu.Lock()
		subs = subs[:0]
		for sub := range q.slots[slot] {
			subs = append(subs, sub)
		}
		q.mu.Unlock()
		slot = (slot + 1) % srSlots
		sent := false
		now, mono := time.Now(), monoNow()
		for _, sub := range subs {
			pkts = sub.senderReports(pkts[:0], now, mono)
			if len(pkts) > 0 {
				sent = true
				_ = sub.pc.WriteRTCP(pkts)
			}
		}
		clear(subs) // hold no viewer between ticks
		if sent {
			quiet = 0
			continue
		}
		if quiet++; quiet >= int(srQuiet/srTick) {
			// Nothing to report for srQuiet: stop until a packet arrives. A packet that arrived
			// between the last report and here kicks a ticker still running (stopped is false
			// until now), so at worst reports resume with the next packet.
			t.Stop()
			tick = nil
			q.stopped.Store(true)
		}
	}
}

// senderReports appends a sender report for each of the viewer's tracks that sent within srQuiet.
func (sub *Subscriber) senderReports(pkts []rtcp.Packet, now time.Time, mono int64) []rtcp.Packet {
	for _, d := range sub.downs {
		if at := d.local.lastAt.Load(); at == 0 || mono-at > int64(srQuiet) {
			continue
		}
		if sr := d.senderReport(now, mono); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	return pkts
}
