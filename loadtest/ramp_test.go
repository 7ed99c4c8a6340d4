package loadtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRampSampler feeds the sampler readings as the broadcast page's getStats() would give them
// and checks the rates, the top layer and the times to the target.
func TestRampSampler(t *testing.T) {
	live := time.Unix(1000, 0)
	s := &rampSampler{source: SourceNoise, live: live, navToL: 400 * time.Millisecond}
	// Three layers; per second: q 150 kbit, h 500 kbit, f ramps 400 kbit → 1.6 Mbit after 2 s.
	// Header bytes add 4 %. The estimate crosses 1.5 Mbps at 1 s.
	var qb, hb, fb float64
	for i := 0; i <= 20; i++ { // every 500 ms for 10 s
		at := live.Add(time.Duration(i) * 500 * time.Millisecond)
		ts := float64(at.UnixMilli())
		fRate := 400_000.0
		if i > 4 {
			fRate = 1_600_000
		}
		if i > 0 {
			qb += 150_000 / 8 / 2
			hb += 500_000 / 8 / 2
			fb += fRate / 8 / 2
		}
		bwe := 1_200_000.0
		if i >= 2 {
			bwe = 4_000_000
		}
		s.add(at, rampRead{BWE: bwe, Enc: []rampEncRead{
			{RID: "q", TS: ts, B: qb, HB: qb * 0.04, W: 320, TB: 150_000},
			{RID: "f", TS: ts, B: fb, HB: fb * 0.04, W: 1280, TB: 1_500_000, QLR: "none"},
			{RID: "h", TS: ts, B: hb, HB: hb * 0.04, W: 640, TB: 500_000},
		}})
	}
	r := s.summary()
	if len(r.Samples) != 21 || strings.Join(r.Layers, ",") != "q,f,h" || r.LiveAfterS != 0.4 {
		t.Fatalf("samples %d layers %v live %v", len(r.Samples), r.Layers, r.LiveAfterS)
	}
	last := r.Samples[20]
	if want := 1.04 * (150_000 + 500_000 + 1_600_000); last.SentBps < want-1 || last.SentBps > want+1 {
		t.Errorf("last sent %v, want %v", last.SentBps, want)
	}
	if want := 1.04 * 1_600_000; last.TopSentBps < want-1 || last.TopSentBps > want+1 {
		t.Errorf("last top %v, want %v (the widest layer)", last.TopSentBps, want)
	}
	if l := last.Layers[1]; l.RID != "f" || l.PayloadBps != 1_600_000 || l.QLR != "none" || l.Width != 1280 {
		t.Errorf("f layer %+v", l)
	}
	tests := []struct {
		name string
		got  *float64
		want float64
	}{
		{"bwe", r.TimeToBWES, 1},
		// all layers: 1.04 × (150 k + 500 k + 400 k) = 1.09 M until f's rate rises; the 1 s window
		// of the sample at 3 s is the first at 1.04 × 2.25 M. The half-way sample (2.5 s: 1.66 M)
		// already counts.
		{"sent", r.TimeToSentS, 2.5},
		{"top", r.TimeToTopSentS, 3},
		{"sent sustained", r.TimeToSentSustainedS, 2.5},
		{"top sustained", r.TimeToTopSentSustainedS, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got == nil || *tt.got != tt.want {
				t.Errorf("got %v, want %v", deref(tt.got), tt.want)
			}
		})
	}
	rep := &Report{Ramp: r}
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil || !strings.Contains(b.String(), "Publisher ramp") {
		t.Errorf("html: %v, has ramp chart %v", err, strings.Contains(b.String(), "Publisher ramp"))
	}
}

func TestSustainedFrom(t *testing.T) {
	mk := func(vs ...float64) []RampSample {
		var ss []RampSample
		for i, v := range vs {
			ss = append(ss, RampSample{T: float64(i) * 0.5, SentBps: v})
		}
		return ss
	}
	sent := func(s RampSample) float64 { return s.SentBps }
	tests := []struct {
		name string
		ss   []RampSample
		want float64 // -1: nil
	}{
		{"one spike is not sustained", mk(0, 3, 0, 0, 0, 0, 0, 0, 0, 0), -1},
		// (at 1 s the next 2 s average 1.6, but the sample itself is below)
		{"from 1.5 s", mk(0, 0, 0, 2, 2, 2, 2, 2, 2, 2), 1.5},
		{"a dip inside the window averages out", mk(2, 2, 0.8, 2, 2, 2, 2, 2), 0},
		{"window not yet observed", mk(0, 0, 0, 0, 2, 2), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sustainedFrom(tt.ss, sent, 1.5, 2*time.Second)
			switch {
			case tt.want < 0 && got != nil:
				t.Errorf("got %v, want nil", *got)
			case tt.want >= 0 && (got == nil || *got != tt.want):
				t.Errorf("got %v, want %v", deref(got), tt.want)
			}
		})
	}
}

// A sampler whose tab never answers still stops when asked.
func TestRampSamplerStops(t *testing.T) {
	tab, cancel := context.WithCancel(context.Background())
	cancel()
	s := startRampSampler(context.Background(), tab, SourceClock, time.Now(), time.Now())
	done := make(chan struct{})
	go func() { s.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sampler did not stop")
	}
	if s.lastBytes() != 0 || len(s.summary().Samples) != 0 {
		t.Error("samples from a dead tab")
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
