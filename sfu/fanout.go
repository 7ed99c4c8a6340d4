package sfu

import (
	"github.com/relaycast/relaycast/sfu/internal/udpsend"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Fan-out: a track's viewers are split into groups of at most groupSize, each drained by one
// writer goroutine. The read loop hands each packet once to every group's bounded queue (never
// waiting); a group's writer writes it to each of its viewers in turn. Writes never block (the
// ICE socket queues datagrams for sendmmsg and drops when full), so a viewer whose network
// stalls only loses its own datagrams; if a group's writer ever fell behind, only that group's
// packets are dropped (counted in Dropped) and the read loop and the other groups go on.
// Compared with a goroutine per viewer this wakes groupSize times fewer goroutines per packet.
const (
	groupSize  = 32
	groupQueue = 256
)

type group struct {
	up      *upTrack
	queue   chan fanItem
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
		best = &group{up: u, queue: make(chan fanItem, groupQueue), done: make(chan struct{})}
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

// fanOut hands a packet to every group without blocking.
func (u *upTrack) fanOut(pkt *rtp.Packet, at int64) {
	for _, g := range u.fan.load() {
		select {
		case g.queue <- fanItem{pkt, at}:
		default:
			u.room.s.stats.dropped.Add(uint64(len(*g.members.Load())))
		}
	}
}

// groupBatch is the most packets a writer group takes from its queue at once.
const groupBatch = udpsend.MaxGSOSegs

// run is a writer group's goroutine. When it wakes for a packet it also takes what is already
// queued behind it (up to groupBatch; it never waits for more) and writes the batch viewer by
// viewer, so that a viewer's consecutive packets can leave as one GSO message (direct.go). A
// publisher sends a frame's packets back to back and the group is busy with its viewers while
// the read loop queues the next ones, so batches form by themselves; a lone packet goes out
// alone, as before.
func (g *group) run() {
	st := &g.up.room.s.stats
	defer g.up.room.s.wg.Done()
	batch := make([]fanItem, 0, groupBatch)
	var n uint
	for {
		select {
		case <-g.done:
			return
		case it := <-g.queue:
			batch = append(batch[:0], it)
		}
	fill:
		for len(batch) < groupBatch {
			select {
			case it := <-g.queue:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		g.writeBatch(batch, st, &n)
	}
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
