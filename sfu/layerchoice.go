package sfu

import (
	"fmt"
	"slices"
	"time"

	"github.com/pion/rtcp"
)

// Quality is a viewer's choice of simulcast layer.
type Quality string

// The qualities a viewer may ask for. Auto follows the viewer's bandwidth estimate; the others
// pin a layer (falling back to the nearest sending layer while the chosen one is stopped).
const (
	QualityAuto   Quality = "auto"
	QualityHigh   Quality = "high"
	QualityMedium Quality = "medium"
	QualityLow    Quality = "low"
)

// ParseQuality checks a quality name ("" means auto).
func ParseQuality(s string) (Quality, error) {
	switch q := Quality(s); q {
	case "":
		return QualityAuto, nil
	case QualityAuto, QualityHigh, QualityMedium, QualityLow:
		return q, nil
	}
	return "", fmt.Errorf("%w: %q (want auto, high, medium or low)", ErrBadQuality, s)
}

// LayerState is what a viewer of a simulcast room is sent.
type LayerState struct {
	Quality   Quality  // the viewer's choice
	Layer     string   // the layer being sent: "high", "medium", "low"; "" while none (yet)
	AudioOnly bool     // the estimate is below the lowest layer: video paused until it recovers
	Layers    []string // the layers the publisher is sending now, lowest first
}

func (a LayerState) equal(b LayerState) bool {
	return a.Quality == b.Quality && a.Layer == b.Layer && a.AudioOnly == b.AudioOnly && slices.Equal(a.Layers, b.Layers)
}

// Layer choice (Auto). Per viewer and cheap: it runs when the viewer's RTCP brings a receiver
// report or a REMB (at most every evalEvery unless it shows congestion) and when the publisher's
// set of sending layers changes; there is no per-viewer timer, pacer or probe traffic.
//
//   - The estimate is the viewer's REMB when it sent one in the last rembFresh; otherwise a
//     loss-based estimate from the receiver reports' fraction lost (GCC's loss controller: above
//     10 % loss each report multiplies the estimate (at most the sending rate) by 1 − loss/2,
//     below 2 % it grows 5 % per report, in between it holds).
//   - A layer "needs" its measured bitrate plus audioBudget. Down-switch when the estimate falls
//     below downFactor × the current layer's need (to the best layer that fits; none fits: the
//     lowest, and from the lowest audio only). Up-switch one layer at a time when the estimate exceeds upFactor × the next layer's
//     need for upHold, or — probing, since REMB and loss cannot show capacity that is not being
//     used — after a clean spell of probeBackoff since the last switch; a probe that is followed
//     by a down-switch within probeWindow doubles the backoff (up to maxBackoff). A REMB that
//     is still catching up after an up-switch does not count as a reason to go down (catchingUp).
const (
	audioBudget  = 64_000.0
	minLayerRate = 100_000.0
	downFactor   = 0.85
	upFactor     = 1.15
	upHold       = 2 * time.Second
	rembFresh    = 3 * time.Second // browsers send REMB every ~250 ms while receiving
	probeBackoff = 5 * time.Second
	maxBackoff   = 60 * time.Second
	probeWindow  = 10 * time.Second
	lossHigh     = 0.10
	lossLow      = 0.02
	evalEvery    = 500 * time.Millisecond
)

// bandwidth is one viewer's estimate and switching history. Guarded by the simView's mu.
type bandwidth struct {
	est         float64
	remb        float64
	rembAt      int64
	rembFalling bool // the last REMB was lower than the one before: the receiver saw congestion
	loss        float64
	lossAt      int64
	upSince     int64
	lastSwitch  int64
	lastUp      int64
	evalAt      int64 // last choice made for an RTCP report
	probeAt     int64
	backoff     time.Duration
}

func (b *bandwidth) rembValid(now int64) bool {
	return b.rembAt != 0 && now-b.rembAt < int64(rembFresh)
}

// estimate is the current figure (bits/s).
func (b *bandwidth) estimate(now int64) float64 {
	if b.rembValid(now) {
		return b.remb
	}
	return b.est
}

// clean: nothing says the current rate is too much.
func (b *bandwidth) clean(now int64, need float64) bool {
	if b.rembValid(now) {
		return b.remb >= need
	}
	return b.lossAt != 0 && b.loss < lossLow
}

// onRTCP feeds a viewer's RTCP packets (from its video sender) into the estimate and chooses again
// when they carried a report.
func (v *simView) onRTCP(pkts []rtcp.Packet) {
	if v.svc != nil {
		return // SVC: no bandwidth-driven choice (Auto forwards every layer)
	}
	ssrc := uint32(0)
	if b := v.local.b.Load(); b != nil {
		ssrc = b.ssrc
	}
	now := monoNow()
	got := false
	urgent := false
	v.mu.Lock()
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			b := &v.bw
			r := float64(p.Bitrate)
			b.rembFalling = b.rembValid(now) && r < 0.97*b.remb
			urgent = urgent || b.rembFalling
			b.remb, b.rembAt = r, now
			v.sim.room.s.stats.rembs.Add(1)
			got = true
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				if r.SSRC == ssrc {
					v.onLoss(float64(r.FractionLost)/256, now)
					got = true
					urgent = urgent || float64(r.FractionLost)/256 > lossHigh
				}
			}
		}
	}
	// Browsers send REMB about four times a second: choose at most every evalEvery unless the
	// report says congestion.
	if got && (urgent || now-v.bw.evalAt >= int64(evalEvery)) {
		v.bw.evalAt = now
	} else {
		got = false
	}
	v.mu.Unlock()
	if got {
		v.evaluate(now)
	}
}

// onLoss updates the loss-based estimate. mu held.
func (v *simView) onLoss(f float64, now int64) {
	b := &v.bw
	b.loss, b.lossAt = f, now
	sending := audioBudget
	if v.cur != nil {
		sending = v.need(v.cur)
	}
	switch {
	case f > lossHigh:
		b.est = min(b.est, sending) * (1 - f/2)
	case f < lossLow:
		b.est = max(b.est, sending) * 1.05
		if top := v.sim.highestActive(); top != nil && b.est > 2*v.need(top) {
			b.est = 2 * v.need(top)
		}
	}
}

// need is what sending layer l takes: its measured bitrate (a nominal one until measured) plus audio.
func (v *simView) need(l *upTrack) float64 {
	r := v.sim.rate(l)
	if r == 0 {
		switch Quality(v.sim.layerName(l)) {
		case QualityLow:
			r = 150_000
		case QualityMedium:
			r = 500_000
		default:
			r = 1_500_000
		}
	}
	return max(r, minLayerRate) + audioBudget
}

// SetQuality changes the viewer's choice; the switch happens at the next keyframe.
func (v *simView) setQuality(q Quality) {
	v.mu.Lock()
	v.pref = q
	v.bw.upSince = 0
	if v.svc != nil {
		v.svc.setWant(q)
		report, st := v.changedLocked()
		v.mu.Unlock()
		if report != nil {
			report(st)
		}
		return
	}
	v.mu.Unlock()
	v.evaluate(monoNow())
}

// evaluate chooses the layer to send and reports a change of state to the viewer.
func (v *simView) evaluate(now int64) {
	v.mu.Lock()
	if v.closed || !v.running {
		v.mu.Unlock()
		return
	}
	active := v.sim.activeLayers()
	if len(active) > 0 {
		if v.pref != QualityAuto && v.pref != "" {
			v.choose(manualLayer(active, v.pref, v.sim), now)
		} else {
			v.autoChoose(active, now)
		}
	}
	if v.target != nil && now-v.targetAt > v.reaskAfter() {
		// Still no keyframe of the layer chosen (the encoder let the request go, as a browser
		// that has just sent a keyframe does): ask again, whichever chooser kept the target.
		v.targetAt = now
		v.target.requestKeyframe()
	}
	report, st := v.changedLocked()
	v.mu.Unlock()
	if report != nil {
		report(st)
	}
}

// catchingUp: a REMB below the layer just switched up to is the receiver's estimator still
// following the higher rate (it grows about 8 % a second), not congestion, as long as it is not
// falling and still covers the layer below. Within probeWindow of an up-switch that does not move
// the viewer down. mu held.
func (v *simView) catchingUp(active []*upTrack, cur int, now int64) bool {
	b := &v.bw
	return b.rembValid(now) && !b.rembFalling && b.lastUp != 0 && now-b.lastUp < int64(probeWindow) &&
		cur > 0 && b.remb >= downFactor*v.need(active[cur-1])
}

// manualLayer maps a chosen quality to a sending layer: the layer of that name if it is sending,
// else the nearest lower one, else the nearest higher one.
func manualLayer(active []*upTrack, q Quality, s *simulcast) *upTrack {
	want := -1
	for i, l := range active {
		name := s.layerName(l)
		if name == string(q) {
			return l
		}
		if nameRank(name) < nameRank(string(q)) {
			want = i
		}
	}
	if want >= 0 {
		return active[want]
	}
	return active[0]
}

func nameRank(n string) int {
	switch Quality(n) {
	case QualityLow:
		return 0
	case QualityMedium:
		return 1
	}
	return 2
}

// autoChoose applies the rules above. mu held.
func (v *simView) autoChoose(active []*upTrack, now int64) {
	b := &v.bw
	est := b.estimate(now)
	cur := -1
	ref := v.target
	if ref == nil {
		ref = v.cur
	}
	for i, l := range active {
		if l == ref {
			cur = i
		}
	}
	fits := func(max int) int {
		for i := max; i >= 0; i-- {
			if v.need(active[i]) <= est {
				return i
			}
		}
		return -1
	}
	switchTo := func(i int) {
		if i > cur {
			b.lastUp = now
		}
		b.upSince = 0
		b.lastSwitch = now
		if i < 0 {
			v.choose(nil, now)
			return
		}
		v.choose(active[i], now)
	}
	switch {
	case ref == nil && !v.audioOnly:
		// First choice (or the current layer stopped): the best that fits, at least the lowest.
		switchTo(max(fits(len(active)-1), 0))
	case cur < 0 && ref != nil:
		// The layer being sent (or switched to) stopped: the best sending one that fits.
		switchTo(max(fits(len(active)-1), 0))
	case cur >= 0 && est < downFactor*v.need(active[cur]) && !v.catchingUp(active, cur, now):
		next := fits(cur - 1)
		// Audio only is reached from the lowest layer alone: a viewer on a higher layer goes
		// down to the lowest first, so one low estimate (a receiver's REMB that still lags a
		// manual switch, a burst of loss) never takes the picture away at once.
		if next < 0 && (cur > 0 || est >= downFactor*v.need(active[0])) {
			next = 0
		}
		if b.probeAt != 0 && now-b.probeAt < int64(probeWindow) {
			b.backoff = min(2*max(b.backoff, probeBackoff), maxBackoff)
		}
		b.probeAt = 0
		switchTo(next)
	case cur < len(active)-1:
		next := active[cur+1]
		sending := audioBudget
		if cur >= 0 {
			sending = v.need(active[cur])
		}
		if est >= upFactor*v.need(next) {
			if b.upSince == 0 {
				b.upSince = now
			}
			if now-b.upSince >= int64(upHold) {
				switchTo(cur + 1)
			}
			return
		}
		b.upSince = 0
		if b.probeAt != 0 && now-b.probeAt > int64(probeWindow) {
			b.probeAt, b.backoff = 0, 0 // the last probe held
		}
		backoff := max(b.backoff, probeBackoff)
		if b.clean(now, sending) && now-b.lastSwitch >= int64(backoff) {
			switchTo(cur + 1)
			b.probeAt = now
		}
	default:
		b.upSince = 0
		if b.probeAt != 0 && now-b.probeAt > int64(probeWindow) {
			b.probeAt, b.backoff = 0, 0 // the probe held
		}
	}
}
