package hlsfeed

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/sfu"
)

// On demand (Params.OnDemand, --live-hls-start on-demand; docs/LLHLS.md, "On demand"): a live
// room's sink is a demandSink that drops what it gets — no jitter buffer, no packager stream, no
// ffmpeg — until a viewer asks for the room's live HLS (Feed.Demand, called by the server for
// every /live/{room}/… request). The first Demand starts the room's feed (a roomSink, exactly as
// a room of --live-hls-start always has from the start) and asks the publisher for a keyframe;
// the feed goes on while requests come and for Params.Idle after the last one ends, then stops:
// its ffmpeg is killed and its stream removed from the packager at once. The next request starts
// a new stream (a new id, later media sequence numbers, no discontinuity: a fresh playlist).
//
// Concurrent first requests start one feed: the start happens under the sink's lock. While the
// feed runs, one timer per room checks for idleness once per Params.Idle; a dormant room has no
// timer and no goroutine.

// Hold is a request's claim on a room's live HLS (Feed.Demand): the feed runs at least until
// Release, and for Params.Idle after the last Release. The zero Hold holds nothing.
type Hold struct{ d *demandSink }

// Release ends the request's claim.
func (h Hold) Release() {
	if h.d != nil {
		h.d.release()
	}
}

// Held reports whether the room is live on this node (with on-demand live HLS): false for the
// zero Hold.
func (h Hold) Held() bool { return h.d != nil }

// Demand is called for every request for a room's live HLS: a dormant room's feed starts (the
// stream is in the packager when it returns; its media follows the publisher's next keyframe).
// Release the Hold when the request is answered. The zero Hold: the room is not live here on
// demand (another node owns it, it is not live, or the feed starts every room by itself).
func (f *Feed) Demand(room string) Hold {
	if !f.p.OnDemand {
		return Hold{}
	}
	f.mu.Lock()
	d := f.demand[room]
	if d == nil {
		if _, ok := f.recent[room]; ok {
			f.recent[room] = f.p.Now() // still wanted while its publisher is away
		}
	}
	f.mu.Unlock()
	if d == nil || !d.acquire() {
		return Hold{}
	}
	return Hold{d}
}

// recentMax bounds Feed.recent (rooms whose session ended after a request, remembered for Idle).
const recentMax = 4096

// onDemand makes a live room's dormant sink; the room starts at once if it was asked for within
// Idle (its publisher is back after a reconnect: the viewers go on watching).
func (f *Feed) onDemand(room sfu.LiveRoom) *demandSink {
	name := room.Name()
	d := &demandSink{f: f, room: room, name: name}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	now := f.p.Now()
	for k, at := range f.recent {
		if now.Sub(at) > f.p.Idle {
			delete(f.recent, k)
		}
	}
	at, wanted := f.recent[name]
	delete(f.recent, name)
	prev := f.demand[name]
	f.demand[name] = d
	f.mu.Unlock()
	if prev != nil && prev.wantedSince(now.Add(-f.p.Idle)) {
		wanted, at = true, now
	}
	if wanted && now.Sub(at) <= f.p.Idle {
		if d.acquire() {
			d.release()
		}
	}
	return d
}

// demandSink is a live room session's sink on demand: dormant (drops everything) or running
// (hands everything to its roomSink).
type demandSink struct {
	f    *Feed
	room sfu.LiveRoom
	name string

	// cur is inner for the packet path (read without the lock: a dormant room's packets cost
	// one atomic load)
	cur atomic.Pointer[roomSink]

	mu       sync.Mutex
	inner    *roomSink // the running feed; nil while dormant (set with cur)
	closed   bool
	layers   []sfu.LayerInfo // the simulcast layers WantLayers took (every feed gets them)
	inflight int             // requests holding the room
	last     time.Time       // when the last request came or ended
	timer    *time.Timer     // the idle check while running
}

var (
	_ sfu.AgedSink  = (*demandSink)(nil)
	_ sfu.LayerSink = (*demandSink)(nil)
)

// acquire counts a request and starts the feed if it is dormant; false once closed.
func (d *demandSink) acquire() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.inflight++
	d.last = d.f.p.Now()
	if d.inner == nil {
		d.start()
	}
	return true
}

func (d *demandSink) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight > 0 {
		d.inflight--
	}
	d.last = d.f.p.Now()
}

// start starts the room's feed (d.mu held): the session's roomSink, the simulcast layers it
// takes, a keyframe asked for, the idle check armed.
func (d *demandSink) start() {
	in := d.f.open(d.room)
	if in == nil {
		return // the feed is closed
	}
	if d.layers != nil {
		in.WantLayers(d.layers)
	}
	d.inner = in
	d.cur.Store(in)
	d.f.stats.starts.Add(1)
	in.log.Info("live HLS started on demand")
	d.room.RequestKeyframe() // the feed starts at a keyframe: ask now, not at the next packet
	if d.timer == nil {
		d.timer = time.AfterFunc(d.f.p.Idle, d.check)
	} else {
		d.timer.Reset(d.f.p.Idle)
	}
}

// check runs once per Idle while the feed runs: it stops a feed no request held for Idle.
func (d *demandSink) check() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.inner == nil {
		return
	}
	idle := d.f.p.Idle
	if d.inflight > 0 {
		d.timer.Reset(idle)
		return
	}
	if rest := idle - d.f.p.Now().Sub(d.last); rest > 0 {
		d.timer.Reset(rest)
		return
	}
	in := d.inner
	d.inner = nil
	d.cur.Store(nil)
	// Under d.mu: a request that comes meanwhile starts a new stream after this one is gone.
	_ = in.close(true)
	d.f.stats.idleStops.Add(1)
}

// running reports whether the feed runs.
func (d *demandSink) running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inner != nil
}

// wantedSince reports whether a request held the room at or after t.
func (d *demandSink) wantedSince(t time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight > 0 || (!d.last.IsZero() && !d.last.Before(t))
}

func (d *demandSink) current() *roomSink { return d.cur.Load() }

// WriteRTP implements sfu.Sink.
func (d *demandSink) WriteRTP(info sfu.TrackInfo, pkt *rtp.Packet) error {
	return d.WriteAgedRTP(info, pkt, 0)
}

// WriteAgedRTP implements sfu.AgedSink: dropped while dormant.
func (d *demandSink) WriteAgedRTP(info sfu.TrackInfo, pkt *rtp.Packet, age time.Duration) error {
	in := d.current()
	if in == nil {
		return nil
	}
	if err := in.WriteAgedRTP(info, pkt, age); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil // ErrClosed: stopped meanwhile (idle)
}

// WantLayers implements sfu.LayerSink: the layers a feed takes (H.264 simulcast), kept for
// every start.
func (d *demandSink) WantLayers(layers []sfu.LayerInfo) bool {
	if !wantLayers(layers) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.layers = append([]sfu.LayerInfo(nil), layers...)
	if d.inner != nil {
		d.inner.WantLayers(d.layers)
	}
	return true
}

// WriteLayerRTP implements sfu.LayerSink: dropped while dormant.
func (d *demandSink) WriteLayerRTP(l sfu.LayerInfo, pkt *rtp.Packet) error {
	in := d.current()
	if in == nil {
		return nil
	}
	if err := in.WriteLayerRTP(l, pkt); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// Close implements sfu.Sink: the room session ended. A running feed ends as in --live-hls-start
// always (its stream lingers for the publisher's return); when it was asked for within Idle the
// room's next session starts at once.
func (d *demandSink) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	in := d.inner
	d.inner = nil
	d.cur.Store(nil)
	if d.timer != nil {
		d.timer.Stop()
	}
	last, held := d.last, d.inflight > 0
	d.mu.Unlock()
	f := d.f
	f.mu.Lock()
	if f.demand[d.name] == d {
		delete(f.demand, d.name)
		if in != nil && len(f.recent) < recentMax {
			if held {
				last = f.p.Now()
			}
			f.recent[d.name] = last
		}
	}
	f.mu.Unlock()
	if in != nil {
		return in.Close()
	}
	return nil
}
