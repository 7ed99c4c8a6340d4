package sfu

import (
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// VP9 spatial SVC. A publisher may send one VP9 stream whose pictures carry up to three spatial
// layers (Chromium's scalabilityMode L3T3_KEY: each layer twice the resolution of the one below,
// upper layers depending on lower ones only at keyframes). A viewer of a plain VP9 track gets a
// simView in SVC mode: it sits in the track's writer groups like a plain viewer and forwards the
// spatial layers up to its chosen one (high: all, medium: S0+S1, low: S0), dropping the rest.
//
//   - Down-switch at the next picture start (first packet of S0: B=1, SID=0).
//   - Up-switch only at the start of a keyframe picture (S0 with P=0, B=1), requested with a PLI.
//   - Outgoing sequence numbers leave no holes for dropped packets: out = in + off, and off
//     decreases by one per dropped packet. Incoming gaps keep their numbers, so a late
//     (retransmitted) packet of a forwarded layer still fits in; svcRing remembers the mapping
//     both ways for late packets and NACKs.
//   - The RTP marker is set on the last packet (E=1) of the highest forwarded spatial layer, so
//     the receiver sees the picture end there.
//   - Timestamps and picture IDs are those of the publisher (all layers of a picture share them).
//
// Temporal layers are all forwarded. Auto forwards every layer (no bandwidth-driven choice for
// SVC yet). A VP9 stream without layer indices (no SVC) passes unchanged.

const svcRing = 1024 // packets remembered for late arrivals and NACKs (a power of two)

// svcAll: no spatial layer is dropped.
const svcAll = 255

type svcSlot struct {
	seq   uint16 // the sequence number this slot is for (in or out, by ring)
	other uint16 // the matching out (inRing) or in (outRing) number
	state uint8  // svcFree, svcReserved (a gap: number kept for a late packet), svcSent, svcDropped
	mark  bool   // outRing: the marker the packet was sent with
}

const (
	svcFree uint8 = iota
	svcReserved
	svcSent
	svcDropped
)

// svcFilter is one viewer's spatial-layer filter. Guarded by the simView's mu.
type svcFilter struct {
	up      *upTrack
	vp9     codecs.VP9Packet
	layers  int   // spatial layers seen (highest SID + 1, or the SS's N_S + 1)
	want    uint8 // the highest spatial layer to forward (svcAll: every layer)
	cur     uint8 // what is forwarded now
	started bool
	highIn  uint16 // highest incoming sequence number seen
	off     uint16 // out = in + off for new packets
	lastOut uint16
	inRing  [svcRing]svcSlot
	outRing [svcRing]svcSlot
	asked   bool // a keyframe was requested for the pending up-switch
}

func newSVCFilter(up *upTrack, q Quality) *svcFilter {
	f := &svcFilter{up: up, cur: svcAll}
	f.setWant(q)
	return f
}

// setWant maps the viewer's choice to a spatial layer.
func (f *svcFilter) setWant(q Quality) {
	switch q {
	case QualityLow:
		f.want = 0
	case QualityMedium:
		f.want = 1
	default:
		f.want = svcAll
	}
	f.asked = false
}

// effective clamps a spatial layer index to the layers seen: svcAll when it covers them all
// (while at most one layer has been seen, the number of layers is not known yet).
func (f *svcFilter) effective(l uint8) uint8 {
	if f.layers > 1 && int(l) >= f.layers-1 {
		return svcAll
	}
	return l
}

// svcLayerName names forwarded layer l of n like simulcast layers are named.
func svcLayerName(l uint8, n int) string {
	if n <= 1 {
		return ""
	}
	if l == svcAll || int(l) >= n-1 {
		return string(QualityHigh)
	}
	return nameForRank(int(l), n)
}

// parse reads p's VP9 descriptor: the spatial layer and the flags the filter needs. ok is false
// when the payload does not parse (it is then forwarded as is).
func (f *svcFilter) parse(payload []byte) (sid uint8, ok bool) {
	f.vp9.PDiff = f.vp9.PDiff[:0] // Pion appends reference indices to what is there
	if _, err := f.vp9.Unmarshal(payload); err != nil {
		return 0, false
	}
	if f.vp9.L {
		sid = f.vp9.SID
	}
	n := int(sid) + 1
	if f.vp9.V {
		n = max(n, int(f.vp9.NS)+1)
	}
	if n > f.layers {
		f.layers = n
	}
	return sid, true
}

// writeSVC is simView.write for an SVC viewer. mu held by the caller (released here).
func (v *simView) writeSVC(p *rtp.Packet) (int, error) {
	f := v.svc
	layersBefore, curBefore := f.layers, f.cur
	sid, ok := f.parse(p.Payload)
	seq := p.SequenceNumber
	if !f.started {
		f.started = true
		f.highIn = seq - 1
		f.lastOut = seq - 1
	}
	want := f.effective(f.want)
	var out uint16
	fwd := true
	d := int16(seq - f.highIn)
	if d > svcRing || d < -svcRing {
		// The publisher's numbering jumped (or more than svcRing packets were lost): continue the
		// outgoing numbers from the last one sent.
		f.off = f.lastOut + 1 - seq
		f.highIn = seq - 1
		f.inRing = [svcRing]svcSlot{} // incoming numbers of the old run mean nothing now
		d = 1
	}
	if d > 0 {
		// Keep the numbers of the packets that did not arrive, for when they do.
		for i := uint16(1); i < uint16(d); i++ {
			in := seq - uint16(d) + i
			f.record(in, in+f.off, svcReserved)
		}
		f.highIn = seq
		if ok && f.vp9.B && sid == 0 { // a picture starts
			switch {
			case want < f.cur:
				f.cur = want
			case want > f.cur && !f.vp9.P:
				f.cur, f.asked = want, false
			case want > f.cur && !f.asked:
				f.asked = true
				f.up.requestKeyframe()
			}
		}
		fwd = !ok || f.cur == svcAll || sid <= f.cur
		out = seq + f.off
		if fwd {
			f.record(seq, out, svcSent)
		} else {
			f.record(seq, out, svcDropped)
			f.off--
		}
	} else {
		// Late: send it in the place kept for it, if its layer is forwarded.
		s := &f.inRing[seq%svcRing]
		if s.seq != seq || s.state != svcReserved || (ok && f.cur != svcAll && sid > f.cur) {
			return v.svcDone(0, nil, layersBefore, curBefore)
		}
		out = s.other
		f.record(seq, out, svcSent)
	}
	if !fwd {
		return v.svcDone(0, nil, layersBefore, curBefore)
	}
	marker := p.Marker || (ok && f.vp9.L && f.vp9.E && f.cur != svcAll && sid == f.cur)
	f.outRing[out%svcRing].mark = marker
	n, err := v.sendSVC(p, out, marker, false)
	if int16(out-f.lastOut) > 0 {
		f.lastOut = out
	}
	return v.svcDone(n, err, layersBefore, curBefore)
}

// svcDone releases mu and reports a change of what the viewer gets (layers seen, layer sent).
func (v *simView) svcDone(n int, err error, layers int, cur uint8) (int, error) {
	f := v.svc
	var report func(LayerState)
	var st LayerState
	if f.layers != layers || f.cur != cur {
		if f.cur != cur {
			v.sub.room.s.stats.layerSwitches.Add(1)
		}
		report, st = v.changedLocked()
	}
	v.mu.Unlock()
	if report != nil {
		report(st)
	}
	return n, err
}

// record notes that incoming in maps to outgoing out.
func (f *svcFilter) record(in, out uint16, state uint8) {
	f.inRing[in%svcRing] = svcSlot{seq: in, other: out, state: state}
	if state == svcSent || state == svcReserved {
		f.outRing[out%svcRing] = svcSlot{seq: out, other: in, state: state}
	}
}

// sendSVC writes p as sequence number out with the given marker; the shared packet goes out
// untouched when neither changes. mu held.
func (v *simView) sendSVC(p *rtp.Packet, out uint16, marker, resend bool) (int, error) {
	pkt := p
	if out != p.SequenceNumber || marker != p.Marker {
		v.scratch.Header = p.Header
		v.scratch.SequenceNumber = out
		v.scratch.Marker = marker
		v.scratch.Payload = p.Payload
		pkt = &v.scratch
	}
	if resend {
		return v.local.resend(pkt)
	}
	return v.local.write(pkt)
}

// resendSVC answers a NACK for outgoing sequence number out from the track's cache. mu held.
func (v *simView) resendSVC(out uint16) (int, error) {
	f := v.svc
	s := f.outRing[out%svcRing]
	if !f.started || s.seq != out || s.state != svcSent {
		return 0, nil
	}
	p := f.up.cache.get(s.other)
	if p == nil {
		return 0, nil
	}
	return v.sendSVC(p, out, s.mark, true)
}

// svcState is what an SVC viewer is sent. mu held.
func (v *simView) svcState() LayerState {
	f := v.svc
	st := LayerState{Quality: v.pref, Layer: svcLayerName(f.cur, f.layers)}
	if f.layers > 1 {
		for l := 0; l < f.layers; l++ {
			st.Layers = append(st.Layers, svcLayerName(uint8(l), f.layers))
		}
	}
	return st
}
