package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TrackInfo describes one incoming track of a live room.
type TrackInfo struct {
	Index int // position in LiveRoom.Tracks, stable for the room's life
	Kind  webrtc.RTPCodecType
	Codec webrtc.RTPCodecCapability
	SSRC  uint32
}

// LiveRoom is what a sink's owner sees of a room that went live.
type LiveRoom interface {
	Name() string
	// Publisher is who broadcasts (the publish token's subject; empty when it has none).
	Publisher() string
	Tracks() []TrackInfo
	// RequestKeyframe asks the publisher for a keyframe on every video track (throttled).
	RequestKeyframe()
}

// Sink receives every packet of a live room inside the server process, like a viewer that never
// stalls the room (the recorder is one). WriteRTP is called from one goroutine per sink, in order
// per track; the packet must not be modified or kept after the call returns. Close is called once
// when the room ends.
type Sink interface {
	WriteRTP(track TrackInfo, pkt *rtp.Packet) error
	Close() error
}

// AgedSink is a Sink that is told how old a packet is when it is not live: the packets replayed
// from the cache to a sink that attached after a keyframe (sinkreplay.go) arrived up to a
// keyframe interval before it gets them. A sink that anchors its timeline to the arrival time
// (the recorder) implements it; other sinks get the replayed packets through WriteRTP.
type AgedSink interface {
	Sink
	WriteAgedRTP(track TrackInfo, pkt *rtp.Packet, age time.Duration) error
}

// sinkQueue is the number of packets buffered for a sink (~20 s of a 1.5 Mbps stream).
const sinkQueue = 4096

// sinkGather is how long a sink's packets gather before its goroutine takes them, all at once:
// one wake-up per room every sinkGather while media flows, instead of one per packet (≈ 230 a
// second). The recorder writes its files every 100 ms anyway and live HLS cuts parts of 200 ms
// or more, so neither waits for it. Nothing arms the timer while no packet arrives.
const sinkGather = 20 * time.Millisecond

type sinkFeed struct {
	room *room
	sink Sink
	// pending holds the packets not taken yet (at most sinkQueue); the first one into an empty
	// list arms wake, which run waits on.
	mu      sync.Mutex
	pending []sinkPacket
	wake    *time.Timer
	downs   []*downTrack
	done    chan struct{}
	once    sync.Once
	// replay is written before the live packets (sinkreplay.go); filtering counts its tracks
	// whose live packets may still repeat it. Set before run starts, then run's alone.
	replay    []*replayTrack
	replayFor map[int]TrackInfo
	filtering int
	layers    *sinkLayers // a LayerSink's extra simulcast layers (sinklayers.go); nil for most
}

type sinkPacket struct {
	info TrackInfo
	pkt  *rtp.Packet
}

func newSinkFeed(r *room, sink Sink) *sinkFeed {
	f := &sinkFeed{room: r, sink: sink, done: make(chan struct{}), pending: make([]sinkPacket, 0, 64)}
	f.wake = time.NewTimer(time.Hour)
	f.wake.Stop()
	return f
}

// enqueue is called by the room's read loops; it never waits for the sink.
func (f *sinkFeed) enqueue(info TrackInfo, pkt *rtp.Packet) {
	f.mu.Lock()
	if len(f.pending) >= sinkQueue {
		f.mu.Unlock()
		f.room.s.stats.sinkDropped.Add(1)
		return
	}
	f.pending = append(f.pending, sinkPacket{info, pkt})
	first := len(f.pending) == 1
	f.mu.Unlock()
	if first {
		f.wake.Reset(sinkGather)
	}
}

// take hands run what has gathered, leaving spare (emptied) as the next list.
func (f *sinkFeed) take(spare []sinkPacket) []sinkPacket {
	clear(spare)
	f.mu.Lock()
	got := f.pending
	f.pending = spare[:0]
	f.mu.Unlock()
	return got
}

func (f *sinkFeed) run() {
	defer f.room.s.wg.Done()
	if f.replay != nil {
		f.writeReplay(f.replayFor)
		f.filtering = len(f.replay)
	}
	spare := make([]sinkPacket, 0, 64)
	for {
		select {
		case <-f.wake.C:
			batch := f.take(spare)
			for _, sp := range batch {
				if f.toLayer(sp) || f.replayed(sp.info, sp.pkt) {
					continue
				}
				if err := f.sink.WriteRTP(sp.info, sp.pkt); err != nil {
					f.room.s.log.Warn("sink write failed", "room", f.room.name, "err", err)
				}
			}
			spare = batch
		case <-f.done:
			// Write what was queued before the end, then close.
			f.wake.Stop()
			for _, sp := range f.take(spare) {
				if !f.toLayer(sp) && !f.replayed(sp.info, sp.pkt) {
					_ = f.sink.WriteRTP(sp.info, sp.pkt)
				}
			}
			if err := f.sink.Close(); err != nil {
				f.room.s.log.Warn("sink close failed", "room", f.room.name, "err", err)
			}
			return
		}
	}
}

func (f *sinkFeed) stop() {
	f.once.Do(func() {
		for _, d := range f.downs {
			d.up.detach(d)
		}
		close(f.done)
	})
}

// Name is the room's name (LiveRoom).
func (r *room) Name() string { return r.name }

// Publisher is the broadcaster's token subject (LiveRoom).
func (r *room) Publisher() string { return r.subject }

// Tracks lists the room's incoming tracks (LiveRoom).
func (r *room) Tracks() []TrackInfo {
	ups := r.snapshotTracks()
	out := make([]TrackInfo, len(ups))
	for i, u := range ups {
		out[i] = u.info
	}
	return out
}

// RequestKeyframe asks for a keyframe on every video track (LiveRoom).
func (r *room) RequestKeyframe() {
	for _, u := range r.snapshotTracks() {
		u.requestKeyframe()
	}
}

// startSink asks the OnLive hook for a sink and feeds it until the room ends.
func (r *room) startSink() {
	hook := r.s.cfg.OnLive
	if hook == nil || r.relay { // a relayed room is recorded at its origin
		return
	}
	sink := hook(r)
	if sink == nil {
		return
	}
	f := newSinkFeed(r, sink)
	f.layers = r.wantedLayers(sink)
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		_ = sink.Close()
		return
	}
	r.sinks = append(r.sinks, f)
	r.s.wg.Add(1)
	ups := append([]*upTrack(nil), r.tracks...)
	f.downs = make([]*downTrack, 0, len(ups))
	for _, u := range ups {
		f.downs = append(f.downs, &downTrack{up: u, feed: f})
	}
	if f.layers != nil {
		f.downs = append(f.downs, f.layers.downs(f)...)
	}
	r.mu.Unlock()
	// Attach every track before reading the caches (the seam, sinkreplay.go); the live packets
	// wait in the queue until run has written the replay.
	for _, d := range f.downs {
		d.up.attach(d)
	}
	if f.replay = sinkReplay(ups); f.replay != nil {
		f.replayFor = make(map[int]TrackInfo, len(ups))
		for _, u := range ups {
			f.replayFor[u.info.Index] = u.info
		}
	}
	go f.run()
	r.RequestKeyframe()
	if f.layers != nil {
		f.layers.requestKeyframes()
	}
}
