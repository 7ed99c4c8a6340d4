package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// simView is one viewer's video of a simulcast track. The viewer's downTrack sits in the writer
// groups of its current layer only; a switch adds it to the target layer's groups and the first
// keyframe that arrives there flips the stream over (the old membership is then removed), so the
// viewer never sees a partial GOP of the new layer. Sequence numbers, timestamps and the VP8
// picture ID / TL0PICIDX are offset per segment so the viewer sees one continuous stream. A
// viewer that never switched is written with offsets of zero: no copy, no rewrite.
//
// mu serialises the (at most two) layers' writers and the viewer's RTCP goroutine; it is taken
// once per packet and contended only during a switch.
type simView struct {
	sub   *Subscriber
	sim   *simulcast
	local *localTrack
	codec codecKind
	clock float64

	mu          sync.Mutex
	members     map[*upTrack]*downTrack
	cur, target *upTrack
	targetAt    int64
	closed      bool
	running     bool // the connection is up: forwarding may start
	audioOnly   bool

	started bool
	seg     segment // the stream being written
	prev    segment // the one before the last switch (for late NACKs)
	lastSeq uint16
	lastTS  uint32
	lastPic uint16
	lastTL0 uint8
	hasPic  bool
	lastAt  int64

	scratch rtp.Packet
	buf     [1500]byte
	absID   uint8 // negotiated abs-send-time extension ID (0: none)
	ext     [1]rtp.Extension
	abs     [3]byte

	svc  *svcFilter // VP9 SVC: a plain track's spatial layers filtered (svc.go); nil for simulcast
	down *downTrack // VP9 SVC: the viewer's membership of the track

	pref     Quality
	bw       bandwidth
	onLayer  func(LayerState)
	reported LayerState
}

// segment is a stretch of the outgoing stream taken from one layer, with its rewrite offsets.
type segment struct {
	layer            *upTrack
	seqOff           uint16
	tsOff            uint32
	picOff           uint16
	tl0Off           uint8
	inStart          uint16 // first incoming sequence number of the segment
	outStart, outEnd uint16 // outgoing range (outEnd set when the segment ends)
}

func (g *segment) identity() bool {
	return g.seqOff == 0 && g.tsOff == 0 && g.picOff == 0 && g.tl0Off == 0
}

// write is the writer groups' entry for a simulcast viewer: layer is the group's track.
func (v *simView) write(layer *upTrack, p *rtp.Packet) (int, error) {
	v.mu.Lock()
	if v.svc != nil {
		return v.writeSVC(p) // releases mu
	}
	switched := false
	if layer == v.target {
		if !isKeyframeStart(v.codec, p.Payload) {
			v.mu.Unlock()
			return 0, nil
		}
		v.switchAt(layer, p)
		switched = true
	} else if layer != v.cur || int16(p.SequenceNumber-v.seg.inStart) < 0 {
		// A stale membership (removed right after a switch) or a packet older than the switch.
		v.mu.Unlock()
		return 0, nil
	}
	n, err := v.send(&v.seg, p, false)
	var report func(LayerState)
	var st LayerState
	if switched {
		report, st = v.changedLocked()
	}
	v.mu.Unlock()
	if report != nil {
		report(st)
	}
	return n, err
}

// switchAt starts a new segment at a keyframe of layer: offsets continue the stream written so far.
func (v *simView) switchAt(layer *upTrack, p *rtp.Packet) {
	now := monoNow()
	seg := segment{layer: layer, inStart: p.SequenceNumber}
	if v.started {
		v.prev = v.seg
		v.prev.outEnd = v.lastSeq
		seg.seqOff = v.lastSeq + 1 - p.SequenceNumber
		delta := uint32(1)
		if d := float64(now-v.lastAt) * v.clock / 1e9; d > 1 {
			delta = uint32(d)
		}
		seg.tsOff = v.lastTS + delta - p.Timestamp
		if v.codec == codecVP8 && v.hasPic {
			if d, ok := parseVP8(p.Payload); ok && d.pic >= 0 {
				seg.picOff = (v.lastPic + 1 - d.picture(p.Payload)) & d.picMask()
				if d.tl0 >= 0 {
					seg.tl0Off = v.lastTL0 + 1 - p.Payload[d.tl0]
				}
			}
		}
	}
	seg.outStart = p.SequenceNumber + seg.seqOff
	old := v.cur
	v.seg = seg
	v.cur, v.target = layer, nil
	v.audioOnly = false
	if old != nil && old != layer {
		v.dropMember(old)
	}
	v.sim.room.s.stats.layerSwitches.Add(1)
}

// send rewrites p for segment g (when its offsets are not zero) and writes it to the viewer.
// Called with mu held; the scratch packet is reused, nothing is allocated.
func (v *simView) send(g *segment, p *rtp.Packet, resend bool) (int, error) {
	out := p
	var d vp8Desc
	vp8ok := false
	if v.codec == codecVP8 {
		d, vp8ok = parseVP8(p.Payload)
	}
	now := monoNow()
	if !g.identity() || v.absID != 0 {
		v.scratch.Header = p.Header
		v.scratch.SequenceNumber += g.seqOff
		v.scratch.Timestamp += g.tsOff
		v.scratch.Payload = p.Payload
		if v.absID != 0 {
			// abs-send-time: 6.18 fixed-point seconds, 24 bits (any epoch: receivers use differences).
			t := uint64(now) << 18 / 1e9
			v.abs[0], v.abs[1], v.abs[2] = byte(t>>16), byte(t>>8), byte(t)
			v.scratch.Header.Extension = false
			v.scratch.Header.Extensions = v.ext[:0]
			_ = v.scratch.Header.SetExtension(v.absID, v.abs[:])
		}
		if vp8ok && (g.picOff != 0 || g.tl0Off != 0) && len(p.Payload) <= len(v.buf) {
			b := v.buf[:copy(v.buf[:], p.Payload)]
			if d.pic >= 0 {
				d.setPicture(b, (d.picture(b)+g.picOff)&d.picMask())
			}
			if d.tl0 >= 0 {
				b[d.tl0] += g.tl0Off
			}
			v.scratch.Payload = b
		}
		out = &v.scratch
	}
	if resend {
		return v.local.resend(out)
	}
	n, err := v.local.writeAt(out, now)
	if !v.started || int16(out.SequenceNumber-v.lastSeq) > 0 {
		v.lastSeq, v.lastTS = out.SequenceNumber, out.Timestamp
		v.lastAt = now
		if vp8ok && d.pic >= 0 {
			v.lastPic, v.hasPic = d.picture(out.Payload), true
			if d.tl0 >= 0 {
				v.lastTL0 = out.Payload[d.tl0]
			}
		}
	}
	v.started = true
	return n, err
}

// resend answers a NACK for an outgoing sequence number from the cache of the layer it came from.
func (v *simView) resend(outSeq uint16) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.svc != nil {
		return v.resendSVC(outSeq)
	}
	if !v.started {
		return 0, nil
	}
	for _, g := range []*segment{&v.seg, &v.prev} {
		if g.layer == nil || int16(outSeq-g.outStart) < 0 {
			continue
		}
		end := v.lastSeq
		if g == &v.prev {
			end = g.outEnd
		}
		if int16(end-outSeq) < 0 {
			continue
		}
		if pkt := g.layer.cache.get(outSeq - g.seqOff); pkt != nil {
			return v.send(g, pkt, true)
		}
		return 0, nil
	}
	return 0, nil
}

// addMember puts the viewer into layer's writer groups. mu held.
func (v *simView) addMember(layer *upTrack) {
	if _, ok := v.members[layer]; ok {
		return
	}
	d := &downTrack{sub: v.sub, up: layer, local: v.local, view: v}
	v.members[layer] = d
	layer.addViewer(d)
}

// dropMember takes the viewer out of layer's writer groups. mu held.
func (v *simView) dropMember(layer *upTrack) {
	if d, ok := v.members[layer]; ok {
		delete(v.members, layer)
		layer.removeViewer(d)
	}
}

// choose makes want the layer to send (nil: audio only). The switch itself happens at want's next
// keyframe, which is requested now (throttled per layer). mu held.
func (v *simView) choose(want *upTrack, now int64) {
	if v.closed {
		return
	}
	if want == nil {
		for l := range v.members {
			v.dropMember(l)
		}
		v.cur, v.target = nil, nil
		v.audioOnly = true
		return
	}
	if want == v.cur {
		if v.target != nil {
			v.dropMember(v.target)
			v.target = nil
		}
		return
	}
	if want == v.target {
		if now-v.targetAt > int64(2*layerIdle) { // still no keyframe: ask again
			v.targetAt = now
			want.requestKeyframe()
		}
		return
	}
	if v.target != nil {
		v.dropMember(v.target)
	}
	v.target, v.targetAt = want, now
	v.addMember(want)
	want.requestKeyframe()
}

// stuck reports whether the running view has nothing to send yet although layers send (no
// layer chosen, or its target's keyframe awaited past choose's re-ask time).
func (v *simView) stuck(now int64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.running || v.closed || v.audioOnly {
		return false
	}
	if v.target != nil {
		return now-v.targetAt > v.reaskAfter()
	}
	return v.cur == nil
}

// reaskAfter is how long a view waits for its target layer's keyframe before it asks again
// (ns): 2 × layerIdle while it still shows another layer, 500 ms while it shows nothing. mu held.
func (v *simView) reaskAfter() int64 {
	if v.cur == nil {
		return int64(500 * time.Millisecond)
	}
	return int64(2 * layerIdle)
}

// requestKeyframe forwards a viewer's PLI to the layer it is (about to be) fed from.
func (v *simView) requestKeyframe() {
	if v.svc != nil {
		v.svc.up.requestKeyframe()
		return
	}
	v.mu.Lock()
	l := v.target
	if l == nil {
		l = v.cur
	}
	v.mu.Unlock()
	if l != nil {
		l.requestKeyframe()
	}
}

// start is called when the viewer's connection is up: pick a first layer.
func (v *simView) start() {
	v.mu.Lock()
	v.running = true
	v.mu.Unlock()
	if v.svc != nil {
		v.svc.up.addViewer(v.down)
		v.svc.up.requestKeyframe()
		return
	}
	v.sim.addView(v)
	v.evaluate(monoNow())
}

// close removes the viewer from every layer.
func (v *simView) close() {
	if v.svc != nil {
		v.svc.up.removeViewer(v.down)
		v.mu.Lock()
		v.closed = true
		v.mu.Unlock()
		return
	}
	v.sim.removeView(v)
	v.mu.Lock()
	for l := range v.members {
		v.dropMember(l)
	}
	v.closed = true
	v.cur, v.target = nil, nil
	v.mu.Unlock()
}

// state is what the viewer is being sent now. mu held.
func (v *simView) stateLocked() LayerState {
	if v.svc != nil {
		return v.svcState()
	}
	st := LayerState{Quality: v.pref, AudioOnly: v.audioOnly, Layer: v.sim.layerName(v.cur)}
	for _, l := range v.sim.activeLayers() {
		st.Layers = append(st.Layers, v.sim.layerName(l))
	}
	return st
}

// changedLocked returns the report callback and state when what the viewer gets has changed.
func (v *simView) changedLocked() (func(LayerState), LayerState) {
	st := v.stateLocked()
	if v.onLayer == nil || st.equal(v.reported) {
		return nil, st
	}
	v.reported = st
	return v.onLayer, st
}

// State reports the viewer's current layer (for tests and signaling).
func (v *simView) State() LayerState {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stateLocked()
}
