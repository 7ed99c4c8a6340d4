package loadtest

import (
	"context"
	"html/template"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// The publisher ramp: how fast a Chromium publisher's bandwidth estimate and the bytes it sends
// reach RampTargetBps after its peer connection came up. The sampler reads the broadcast page's
// getStats() every rampEvery from the moment the page reports "live" until the run ends.

// RampTargetBps is the bitrate the publisher ramp is timed to (issue 6: ≥ 1.5 Mbps within 10 s).
const RampTargetBps = 1_500_000

const (
	rampEvery      = 500 * time.Millisecond
	rampWindow     = time.Second // sent bitrates are averaged over this much (two samples)
	rampMaxSamples = 2400        // 20 minutes of series; later samples only update the totals
	rampSustain    = 3 * time.Second
)

// rampJS reads the publisher's peer connection: the selected candidate pair's
// availableOutgoingBitrate (Chromium's send-side estimate) and every video encoding (rid).
const rampJS = `(async () => {
  const pc = window.relaycast && window.relaycast.pc;
  if (!pc) return null;
  const st = await pc.getStats();
  let sel = "";
  st.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) sel = r.selectedCandidatePairId; });
  const o = { bwe: 0, srcFps: 0, enc: [] };
  st.forEach((r) => {
    if (r.type === "candidate-pair" && (r.id === sel || (!sel && r.nominated && r.state === "succeeded")))
      o.bwe = Math.max(o.bwe, r.availableOutgoingBitrate || 0);
    if (r.type === "media-source" && r.kind === "video") o.srcFps = r.framesPerSecond || 0;
    if (r.type === "outbound-rtp" && r.kind === "video")
      o.enc.push({ rid: r.rid || "", ts: r.timestamp || 0, b: r.bytesSent || 0, hb: r.headerBytesSent || 0,
        tb: r.targetBitrate || 0, w: r.frameWidth || 0, h: r.frameHeight || 0, fps: r.framesPerSecond || 0,
        qlr: r.qualityLimitationReason || "" });
  });
  return o;
})()`

type rampRead struct {
	BWE    float64       `json:"bwe"`
	SrcFPS float64       `json:"srcFps"`
	Enc    []rampEncRead `json:"enc"`
}

type rampEncRead struct {
	RID string  `json:"rid"`
	TS  float64 `json:"ts"` // stats timestamp, ms
	B   float64 `json:"b"`  // bytesSent (payload)
	HB  float64 `json:"hb"` // headerBytesSent
	TB  float64 `json:"tb"` // targetBitrate
	W   int     `json:"w"`
	H   int     `json:"h"`
	FPS float64 `json:"fps"`
	QLR string  `json:"qlr"`
}

// PublisherRamp is the browser publisher's ramp in the report. Times are seconds since the
// broadcast page went live (peer connection connected); null when the figure never got there.
type PublisherRamp struct {
	Source     string   `json:"source"`
	TargetBps  float64  `json:"target_bps"`
	LiveAfterS float64  `json:"live_after_s"` // broadcast page navigation → live
	Layers     []string `json:"layers"`       // rids seen ("" for one plain encoding)
	// Chromium's estimate (candidate-pair availableOutgoingBitrate) ≥ target.
	TimeToBWES *float64 `json:"time_to_bwe_s"`
	// RTP bytes sent (payload + headers, averaged over 1 s) ≥ target: all layers together, and the
	// top layer (largest frame width) alone.
	TimeToSentS    *float64 `json:"time_to_sent_s"`
	TimeToTopSentS *float64 `json:"time_to_top_sent_s"`
	// The same, sustained: the first sample ≥ target from which the mean over the next rampSustain
	// is ≥ target too (the first keyframes alone can cross it for a moment).
	TimeToSentSustainedS    *float64 `json:"time_to_sent_sustained_s"`
	TimeToTopSentSustainedS *float64 `json:"time_to_top_sent_sustained_s"`
	// Highest values seen, for runs that never reach the target.
	MaxBWEBps     float64      `json:"max_bwe_bps"`
	MaxSentBps    float64      `json:"max_sent_bps"`
	MaxTopSentBps float64      `json:"max_top_sent_bps"`
	Samples       []RampSample `json:"samples"`
}

// RampSample is one getStats() reading of the publisher.
type RampSample struct {
	T          float64     `json:"t"` // seconds since live
	BWEBps     float64     `json:"bwe_bps"`
	SourceFPS  float64     `json:"source_fps"`   // frames the capture delivered (media-source)
	SentBps    float64     `json:"sent_bps"`     // all video layers, payload + headers, last 1 s
	TopSentBps float64     `json:"top_sent_bps"` // the top layer alone
	Layers     []RampLayer `json:"layers"`
}

// RampLayer is one encoding at a sample.
type RampLayer struct {
	RID        string  `json:"rid"`
	SentBps    float64 `json:"sent_bps"`    // payload + headers, last 1 s
	PayloadBps float64 `json:"payload_bps"` // bytesSent only, last 1 s
	TargetBps  float64 `json:"target_bps"`  // the encoder's targetBitrate
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	FPS        float64 `json:"fps"`
	QLR        string  `json:"quality_limitation_reason"`
}

// rampSampler polls the publisher tab; it is the only goroutine that evaluates in that tab after
// the page went live (browserPublisher.bytesSent reads its last sample).
type rampSampler struct {
	tab    context.Context
	source string
	live   time.Time
	navToL time.Duration

	mu      sync.Mutex
	reads   []rampPoint // the last few, for the 1 s windows
	ramp    PublisherRamp
	bytes   float64 // last total video bytesSent (payload), all layers
	stopped chan struct{}
	cancel  context.CancelFunc
}

type rampPoint struct {
	at  time.Time
	enc map[string]rampEncRead
}

func startRampSampler(parent, tab context.Context, source string, navStart, live time.Time) *rampSampler {
	ctx, cancel := context.WithCancel(parent)
	s := &rampSampler{tab: tab, source: source, live: live, navToL: live.Sub(navStart), stopped: make(chan struct{}), cancel: cancel}
	go s.loop(ctx)
	return s
}

func (s *rampSampler) loop(ctx context.Context) {
	defer close(s.stopped)
	t := time.NewTicker(rampEvery)
	defer t.Stop()
	for {
		ectx, cancel := context.WithTimeout(s.tab, 3*time.Second)
		rd, err := chromedp.Run(ectx, chromedp.Evaluate[*rampRead](rampJS, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && rd != nil {
			s.add(time.Now(), *rd)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *rampSampler) stop() {
	s.cancel()
	<-s.stopped
}

// add records one reading; rates come from the reading about rampWindow earlier.
func (s *rampSampler) add(at time.Time, rd rampRead) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := rampPoint{at: at, enc: map[string]rampEncRead{}}
	var total float64
	for _, e := range rd.Enc {
		cur.enc[e.RID] = e
		total += e.B
	}
	s.bytes = total
	s.reads = append(s.reads, cur)
	// Keep one reading at least rampWindow old as the base of the rates.
	for len(s.reads) > 2 && at.Sub(s.reads[1].at) >= rampWindow {
		s.reads = s.reads[1:]
	}
	base := s.reads[0]
	smp := RampSample{T: round3(at.Sub(s.live).Seconds()), BWEBps: rd.BWE, SourceFPS: round3(rd.SrcFPS)}
	topW := -1
	for _, e := range rd.Enc {
		l := RampLayer{RID: e.RID, TargetBps: e.TB, Width: e.W, Height: e.H, FPS: round3(e.FPS), QLR: e.QLR}
		if b, ok := base.enc[e.RID]; ok && e.TS > b.TS && e.B >= b.B {
			dt := (e.TS - b.TS) / 1000
			l.PayloadBps = math.Round((e.B - b.B) * 8 / dt)
			l.SentBps = math.Round((e.B + e.HB - b.B - b.HB) * 8 / dt)
		}
		smp.SentBps += l.SentBps
		if e.W > topW {
			topW, smp.TopSentBps = e.W, l.SentBps
		}
		smp.Layers = append(smp.Layers, l)
		if !slices.Contains(s.ramp.Layers, e.RID) {
			s.ramp.Layers = append(s.ramp.Layers, e.RID)
		}
	}
	r := &s.ramp
	r.MaxBWEBps, r.MaxSentBps, r.MaxTopSentBps = max(r.MaxBWEBps, smp.BWEBps), max(r.MaxSentBps, smp.SentBps), max(r.MaxTopSentBps, smp.TopSentBps)
	reached := func(p **float64, v float64) {
		if *p == nil && v >= RampTargetBps {
			t := smp.T
			*p = &t
		}
	}
	reached(&r.TimeToBWES, smp.BWEBps)
	reached(&r.TimeToSentS, smp.SentBps)
	reached(&r.TimeToTopSentS, smp.TopSentBps)
	if len(r.Samples) < rampMaxSamples {
		r.Samples = append(r.Samples, smp)
	}
}

func (s *rampSampler) lastBytes() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// summary copies the ramp so far.
func (s *rampSampler) summary() *PublisherRamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.ramp
	r.Source, r.TargetBps, r.LiveAfterS = s.source, RampTargetBps, round3(s.navToL.Seconds())
	r.Layers = append([]string(nil), s.ramp.Layers...)
	r.Samples = append([]RampSample(nil), s.ramp.Samples...)
	r.TimeToSentSustainedS = sustainedFrom(r.Samples, func(x RampSample) float64 { return x.SentBps }, RampTargetBps, rampSustain)
	r.TimeToTopSentSustainedS = sustainedFrom(r.Samples, func(x RampSample) float64 { return x.TopSentBps }, RampTargetBps, rampSustain)
	return &r
}

// sustainedFrom is the time of the first sample at or above target from which the mean of f over
// the samples within the next window (the window fully observed) is at least target as well; nil
// when there is none.
func sustainedFrom(ss []RampSample, f func(RampSample) float64, target float64, window time.Duration) *float64 {
	w := window.Seconds()
	for i, a := range ss {
		if ss[len(ss)-1].T < a.T+w {
			break
		}
		if f(a) < target {
			continue
		}
		var sum float64
		n := 0
		for _, b := range ss[i:] {
			if b.T > a.T+w {
				break
			}
			sum += f(b)
			n++
		}
		if sum/float64(n) >= target {
			t := a.T
			return &t
		}
	}
	return nil
}

// chart draws the ramp: estimate, bytes sent and the top layer's target over seconds since live.
func (r *PublisherRamp) chart() template.HTML {
	x := make([]float64, len(r.Samples))
	var bwe, sent, top, target []float64
	for i, s := range r.Samples {
		x[i] = s.T
		bwe, sent, top = append(bwe, s.BWEBps), append(sent, s.SentBps), append(top, s.TopSentBps)
		tb := math.NaN()
		for _, l := range s.Layers {
			if l.Width > 0 && (math.IsNaN(tb) || l.TargetBps > tb) {
				tb = l.TargetBps
			}
		}
		target = append(target, tb)
	}
	return svgChart("Publisher ramp (seconds since live)", "bit/s", x, -1,
		series{"estimate", "#1f77b4", bwe}, series{"sent", "#2ca02c", sent},
		series{"top layer", "#ff7f0e", top}, series{"top target", "#9467bd", target})
}
