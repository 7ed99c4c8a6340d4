package loadtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHistDist(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	d := h.snapshot().dist()
	tests := []struct {
		name      string
		got, want float64
	}{
		{"p50", d.P50, 500}, {"p95", d.P95, 950}, {"p99", d.P99, 990}, {"max", d.Max, 1000}, {"min", d.Min, 1}, {"mean", d.Mean, 500.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rel := (tt.got - tt.want) / tt.want; rel > 0.02 || rel < -0.02 {
				t.Errorf("%s = %v, want %v ±2%%", tt.name, tt.got, tt.want)
			}
		})
	}
	if d.Count != 1000 {
		t.Errorf("count = %d", d.Count)
	}
	// interval = later snapshot minus an earlier one
	before := h.snapshot()
	h.Record(5 * time.Second)
	if iv := h.snapshot().sub(before).dist(); iv.Count != 1 || iv.P50 < 4900 || iv.P50 > 5100 {
		t.Errorf("interval dist = %+v", iv)
	}
	if (histSnap(nil)).dist() != (Dist{}) {
		t.Error("empty dist not zero")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		percent bool
		want    float64
		bad     bool
	}{
		{"50/s", false, 50, false}, {"0.5/s", false, 0.5, false}, {"20", false, 20, false},
		{"0/s", false, 0, true}, {"fast", false, 0, true},
		{"1%", true, 1, false}, {"0.5", true, 0.5, false}, {"101%", true, 0, true}, {"-1%", true, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			parse := ParseRamp
			if tt.percent {
				parse = ParsePercent
			}
			got, err := parse(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadParams) {
					t.Fatalf("err = %v, want ErrBadParams", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := Params{URL: "http://127.0.0.1:8080", Room: "r", Token: "t", Viewers: 1}
	tests := []struct {
		name   string
		mutate func(*Params)
		bad    bool
	}{
		{"ok", func(*Params) {}, false},
		{"no url", func(p *Params) { p.URL = "" }, true},
		{"ftp url", func(p *Params) { p.URL = "ftp://x" }, true},
		{"no room", func(p *Params) { p.Room = "" }, true},
		{"no token", func(p *Params) { p.Token = "" }, true},
		{"no token, no publisher", func(p *Params) { p.Token, p.Publisher = "", PublisherNone }, false},
		{"no viewers", func(p *Params) { p.Viewers = 0 }, true},
		{"bad publisher", func(p *Params) { p.Publisher = "obs" }, true},
		{"file publisher without files", func(p *Params) { p.Publisher = PublisherFile }, true},
		{"file publisher", func(p *Params) { p.Publisher, p.VideoFile = PublisherFile, "v.ivf" }, false},
		{"bad signaling", func(p *Params) { p.Signaling = "sip" }, true},
		{"too many browsers", func(p *Params) { p.BrowserViewers = 65 }, true},
		{"noise source", func(p *Params) { p.Publisher, p.PublisherSource = PublisherBrowser, SourceNoise }, false},
		{"bad publisher source", func(p *Params) { p.Publisher, p.PublisherSource = PublisherBrowser, "camera" }, true},
		// An explicit limit the run can never measure is refused up front.
		{"g2g with the synthetic publisher", func(p *Params) { p.BrowserViewers, p.Thresholds.MaxG2GP95 = 1, time.Second }, true},
		{"g2g with the browser publisher", func(p *Params) {
			p.Publisher, p.BrowserViewers, p.Thresholds.MaxG2GP95 = PublisherBrowser, 1, time.Second
		}, false},
		{"g2g without browser viewers", func(p *Params) { p.Publisher, p.Thresholds.MaxG2GP95 = PublisherBrowser, time.Second }, true},
		{"freezes without browser viewers", func(p *Params) { p.Thresholds.CheckFreezes = true }, true},
		{"latency with a file publisher", func(p *Params) {
			p.Publisher, p.VideoFile, p.Thresholds.MaxLatencyP99 = PublisherFile, "v.ivf", time.Second
		}, true},
		{"first frame without browser viewers", func(p *Params) { p.Thresholds.MaxFirstFrameP95 = time.Second }, true},
		{"default limits are never refused", func(p *Params) { p.Publisher, p.VideoFile = PublisherFile, "v.ivf" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.mutate(&p)
			err := p.withDefaults().Validate()
			if tt.bad != (err != nil) || (err != nil && !errors.Is(err, ErrBadParams)) {
				t.Fatalf("Validate = %v, want bad=%v", err, tt.bad)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	base := func() *Report {
		return &Report{
			HoldSeconds: 10,
			Synthetic: SyntheticSummary{Target: 10, Connected: 10, Packets: 9900, Lost: 100,
				Latency: Dist{Count: 5, P99: 4}, FirstKeyframe: Dist{Count: 10, P95: 300}},
			Server: ServerSummary{CPUCoresMean: 0.5},
		}
	}
	withBrowser := func(r *Report) *Report {
		r.Browser = &BrowserSummary{Target: 2, Playing: 2, G2G: Dist{Count: 100, P95: 120}, Freezes: 1, HoldFreezes: 1,
			JBPlusProc: Dist{Count: 2, P95: 40}, FirstFrame: Dist{Count: 2, P95: 900},
			Viewers: []BrowserViewer{{PacketsReceived: 100}}}
		return r
	}
	tests := []struct {
		name   string
		r      *Report
		th     Thresholds
		pass   bool
		failed []string
	}{
		{"no thresholds but all joined", base(), Thresholds{MinConnectedPct: 100}, true, nil},
		{"loss 1% is within 1%", base(), Thresholds{MinConnectedPct: 100, MaxLossPct: 1}, true, nil},
		{"loss above", base(), Thresholds{MinConnectedPct: 100, MaxLossPct: 0.5}, false, []string{"loss"}},
		{"a viewer missing", func() *Report { r := base(); r.Synthetic.Connected = 9; return r }(), Thresholds{MinConnectedPct: 100}, false, []string{"connected"}},
		{"90% allowed", func() *Report { r := base(); r.Synthetic.Connected = 9; return r }(), Thresholds{MinConnectedPct: 90}, true, nil},
		{"g2g without browsers is not measured", base(), Thresholds{MaxG2GP95: 300 * time.Millisecond}, false, []string{"g2g_p95"}},
		{"browser figures pass", withBrowser(base()), Thresholds{MinConnectedPct: 100, MaxG2GP95: 300 * time.Millisecond,
			MaxJitterBufferP95: 50 * time.Millisecond, MaxFirstFrameP95: time.Second, MaxFreezes: 1, CheckFreezes: true}, true, nil},
		{"browser figures fail", withBrowser(base()), Thresholds{MaxG2GP95: 100 * time.Millisecond,
			MaxJitterBufferP95: 30 * time.Millisecond, CheckFreezes: true}, false, []string{"g2g_p95", "jb_plus_processing_p95", "freezes"}},
		{"latency, keyframe, cpu", base(), Thresholds{MaxLatencyP99: 3 * time.Millisecond, MaxFirstKeyframeP95: 500 * time.Millisecond, MaxServerCPU: 0.4},
			false, []string{"latency_p99", "server_cpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Evaluate(tt.th); got != tt.pass || got != tt.r.Pass {
				t.Errorf("Evaluate = %v, want %v; checks %+v", got, tt.pass, tt.r.Checks)
			}
			var failed []string
			for _, c := range tt.r.Checks {
				if !c.Pass {
					failed = append(failed, c.Name)
				}
			}
			if strings.Join(failed, ",") != strings.Join(tt.failed, ",") {
				t.Errorf("failed checks = %v, want %v", failed, tt.failed)
			}
		})
	}
}

func TestParseMetricsAndProc(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP process_cpu_seconds_total x
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
go_gc_duration_seconds{quantile="0"} 1e-05
relaycast_rtp_sent_bytes_total 1.5e+09
relaycast_viewers 300
`))
	if err != nil || m[mCPU] != 12.5 || m[mSentBytes] != 1.5e9 || m[mViewers] != 300 || len(m) != 3 {
		t.Fatalf("parseMetrics = %v, %v", m, err)
	}
	a := serverSample{at: time.Unix(100, 0), ok: true, metrics: map[string]float64{mCPU: 10}, procOK: true, procCPU: 10}
	b := serverSample{at: time.Unix(102, 0), ok: true, metrics: map[string]float64{mCPU: 13}, procOK: true, procCPU: 13.2}
	if got := rate(a, b, mCPU); got != 1.5 {
		t.Errorf("rate = %v", got)
	}
	if got := procRate(a, b); got < 1.59 || got > 1.61 {
		t.Errorf("procRate = %v", got)
	}
	if got := rate(a, serverSample{}, mCPU); got != 0 {
		t.Errorf("rate with a failed scrape = %v", got)
	}
	cpu, err := parseProcStat("1234 (relay cast) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 12 0")
	if err != nil || cpu != 4 {
		t.Errorf("parseProcStat = %v, %v", cpu, err)
	}
}

func TestReportOutputs(t *testing.T) {
	r := withSamples()
	r.Evaluate(Thresholds{MinConnectedPct: 100, MaxLossPct: 1})
	var js, html bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"cpu_cores_mean"`, `"samples"`, `"checks"`, `"pass": true`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	for _, want := range []string{"<svg", "polyline", "Server CPU", "PASS", "Browser glass-to-glass"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://cdn", "https://"} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML is not self-contained: has %q", bad)
		}
	}
}

func withSamples() *Report {
	r := &Report{Started: time.Unix(0, 0), HoldSeconds: 3, Synthetic: SyntheticSummary{Target: 1, Connected: 1, Packets: 100},
		Browser: &BrowserSummary{Target: 0}}
	for i := range 6 {
		phase := "ramp"
		if i >= 3 {
			phase = "hold"
		}
		r.Samples = append(r.Samples, Sample{T: float64(i + 1), Phase: phase, Viewers: 1, CPUCores: 0.1 * float64(i),
			LatencyP50: 1, LatencyP95: 2, LatencyP99: 3, G2GP50: 40, G2GP95: 60})
	}
	return r
}
