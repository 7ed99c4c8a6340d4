package sfu

import (
	"github.com/relaycast/relaycast/sfu/internal/udpsend"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Fan-out: a track's viewers are split into groups of at most groupSize, each drained by one
// writer goroutine. The read loop hands each packet once to every group's bounded queue (never
// waiting); a group's writer writes it to each of its viewers in turn. Writes never block (the
// ICE socket queues datagrams for sendmmsg and drops when full), so a viewer whose network
// stalls only loses its own datagrams; if a group's writer ever fell behind, only that group's
// packets are dropped (counted in Dropped) and the read loop and the other groups go on.
// Compared with a goroutine per viewer this wakes groupSize times fewer goroutines per packet.
//
// Frames, not packets: the read loop hands a video frame's packets to the groups together, when
// the frame is complete (the packet with the marker bit), so a group wakes once per frame and
// writes the whole frame to each viewer, which leaves as one UDP GSO message (direct.go),
// whatever the number of viewers. Before, a group woke per packet unless packets had piled up
// behind a busy writer: one room of 200 viewers got GSO runs of ≈ 2.7 datagrams, a room of 5
// almost none, and paid a wake-up per packet per track (docs/PERFORMANCE.md, "Many small
// rooms"). Nothing waits for a frame that the viewer could use earlier: a decoder needs all of a
// frame's packets. A frame is also handed over when a packet of the next frame arrives (its
// marker was lost), when stageHold has passed since its first packet (a paced sender), or at
// groupBatch packets (a keyframe, in GSO-sized parts). Audio packets (one per frame) go at once.
const (
	groupSize  = 32
	groupQueue = 256 // packets queued per group
	// stageHold is the longest a frame's first packet is held for the rest of its frame, checked
	// when the next packet arrives (there is no timer): Chromium's pacer spreads a frame over a
	// few ms.
	stageHold = int64(2 * time.Millisecond)
)

type group struct {
	up      *upTrack
	queue   chan *fanBatch
	queued  atomic.Int32 // packets in queue (bounded by groupQueue)
	members atomic.Pointer[[]*downTrack]
	done    chan struct{}
	stopped bool // guarded by the fanout's mu
}

func (g *group) stop() {
	if !g.stopped {
		g.stopped = true
		close(g.done)
	}
}

type fanItem struct {
	pkt *rtp.Packet
	at  int64 // monoNow() at arrival
}

// fanBatch is a frame's packets (or a part of a keyframe), handed to every group of the track at
// once. Groups only read it; the last to let go puts it back in the SFU's pool.
type fanBatch struct {
	items [groupBatch]fanItem
	n     int
	refs  atomic.Int32
}

func (s *SFU) newFanBatch() *fanBatch {
	if b, ok := s.fanBatches.Get().(*fanBatch); ok {
		return b
	}
	return new(fanBatch)
}

// releaseFanBatch drops one reference to b; the last one recycles it.
func (s *SFU) releaseFanBatch(b *fanBatch) {
	if b.refs.Add(-1) == 0 {
		clear(b.items[:b.n])
		b.n = 0
		s.fanBatches.Put(b)
	}
}

// fanout is the set of writer groups of one track.
type fanout struct {
	mu     sync.Mutex // serialises membership changes
	groups atomic.Pointer[[]*group]
}

func (f *fanout) load() []*group {
	if g := f.groups.Load(); g != nil {
		return *g
	}
	return nil
}

// add puts a viewer's downTrack into the least-filled group, starting a new one when all are full.
func (u *upTrack) addViewer(d *downTrack) {
	f := &u.fan
	f.mu.Lock()
	defer f.mu.Unlock()
	var best *group
	bestN := groupSize
	for _, g := range f.load() {
		if n := len(*g.members.Load()); n < bestN {
			best, bestN = g, n
		}
	}
	if best == nil {
		best = &group{up: u, queue: make(chan *fanBatch, groupQueue), done: make(chan struct{})}
		best.members.Store(&[]*downTrack{})
		gs := append(append([]*group(nil), f.load()...), best)
		f.groups.Store(&gs)
		u.room.s.wg.Add(1)
		go best.run()
	}
	old := *best.members.Load()
	next := append(append(make([]*downTrack, 0, len(old)+1), old...), d)
	best.members.Store(&next)
	d.group = best
}

// removeViewer takes a downTrack out of its group; an empty group's writer stops.
func (u *upTrack) removeViewer(d *downTrack) {
	f := &u.fan
	f.mu.Lock()
	defer f.mu.Unlock()
	g := d.group
	if g == nil {
		return
	}
	d.group = nil
	old := *g.members.Load()
	next := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	g.members.Store(&next)
	if len(next) > 0 {
		return
	}
	gs := make([]*group, 0, len(f.load()))
	for _, x := range f.load() {
		if x != g {
			gs = append(gs, x)
		}
	}
	f.groups.Store(&gs)
	g.stop()
}

// stopAll ends every group's writer (the track is gone).
func (u *upTrack) stopAllGroups() {
	f := &u.fan
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.load() {
		g.stop()
	}
	f.groups.Store(&[]*group{})
}

// fanOut adds a packet to the frame being gathered and hands the frame to every group when it is
// complete (see the top of this file). Read loop only.
func (u *upTrack) fanOut(pkt *rtp.Packet, at int64) {
	b := u.stage
	if b != nil && b.n > 0 {
		if first := &b.items[0]; pkt.Timestamp != first.pkt.Timestamp || at-first.at > stageHold {
			u.flushStage()
			b = nil
		}
	}
	if b == nil {
		b = u.room.s.newFanBatch()
		u.stage = b
	}
	b.items[b.n] = fanItem{pkt, at}
	b.n++
	if u.kind != webrtc.RTPCodecTypeVideo || pkt.Marker || b.n == len(b.items) {
		u.flushStage()
	}
}

// flushStage hands the gathered packets to every group without blocking: a group whose queue
// holds groupQueue packets loses them (counted per viewer in Dropped).
func (u *upTrack) flushStage() {
	b := u.stage
	if b == nil {
		return
	}
	u.stage = nil
	s := u.room.s
	groups := u.fan.load()
	n := int32(b.n)
	b.refs.Store(int32(len(groups)) + 1) // + the read loop's, until every group has it
	for _, g := range groups {
		if g.queued.Add(n) <= groupQueue {
			select {
			case g.queue <- b:
				continue
			default:
			}
		}
		g.queued.Add(-n)
		s.stats.dropped.Add(uint64(len(*g.members.Load())) * uint64(n))
		s.releaseFanBatch(b)
	}
	s.releaseFanBatch(b)
}

// groupBatch is the most packets a writer group takes from its queue at once.
const groupBatch = udpsend.MaxGSOSegs

// run is a writer group's goroutine. When it wakes for a frame it also takes what is already
// queued behind it (until it has groupBatch packets; it never waits for more) and writes the
// batch viewer by viewer, so that a viewer's consecutive packets leave as one GSO message
// (direct.go).
func (g *group) run() {
	st := &g.up.room.s.stats
	defer g.up.room.s.wg.Done()
	batch := make([]fanItem, 0, 2*groupBatch)
	var n uint
	for {
		select {
		case <-g.done:
			return
		case b := <-g.queue:
			batch = g.take(batch[:0], b)
		}
	fill:
		for len(batch) < groupBatch {
			select {
			case b := <-g.queue:
				batch = g.take(batch, b)
			default:
				break fill
			}
		}
		g.writeBatch(batch, st, &n)
	}
}

// take appends a queued frame's packets to batch and lets go of the frame.
func (g *group) take(batch []fanItem, b *fanBatch) []fanItem {
	batch = append(batch, b.items[:b.n]...)
	g.queued.Add(-int32(b.n))
	g.up.room.s.releaseFanBatch(b)
	return batch
}

// writeBatch writes a batch to every member, viewer by viewer; n counts packets for the latency
// sampling.
func (g *group) writeBatch(batch []fanItem, st *counters, n *uint) {
	var pkts, bytes uint64
	for _, d := range *g.members.Load() {
		if len(batch) > 1 {
			d.local.beginBatch(len(batch))
		}
		for _, it := range batch {
			var k int
			var err error
			if d.view != nil {
				k, err = d.view.write(g.up, it.pkt) // a simulcast layer: rewritten per viewer
			} else {
				k, err = d.local.writeAt(it.pkt, it.at)
			}
			if err == nil && k > 0 {
				pkts++
				bytes += uint64(k)
			}
		}
		if len(batch) > 1 {
			d.local.endBatch()
		}
	}
	st.packetsOut.Add(pkts)
	st.bytesOut.Add(bytes)
	// One packet in latencySampleEvery is timed, from its arrival to now: the batch has been
	// handed to the last member, which makes now an upper bound for every packet of it.
	if pkts > 0 {
		now := monoNow()
		for _, it := range batch {
			if *n++; *n%latencySampleEvery == 0 {
				st.forwardLatency.observe(time.Duration(now - it.at))
			}
		}
	}
}
