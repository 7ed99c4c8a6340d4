package loadtest

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDefaultThresholds: without any limit given, PASS means the show was watchable; a figure
// the run could not measure is n/a under a default limit but fails under an explicit one.
func TestDefaultThresholds(t *testing.T) {
	browserRun := func(freezes int64, g2gP95 float64) *Report {
		return &Report{HoldSeconds: 30, Params: ReportParams{Publisher: PublisherBrowser},
			Synthetic: SyntheticSummary{Target: 4, Connected: 4, Packets: 10000, Latency: Dist{Count: 100, P99: 5}, FirstKeyframe: Dist{Count: 4, P95: 200}},
			Browser: &BrowserSummary{Target: 2, Playing: 2, Freezes: freezes, HoldFreezes: freezes,
				G2G: Dist{Count: 100, P95: g2gP95}, FirstFrame: Dist{Count: 2, P95: 900}, JBPlusProc: Dist{Count: 2, P95: 40},
				Viewers: []BrowserViewer{{State: "playing", PacketsReceived: 1000}, {Index: 1, State: "playing", PacketsReceived: 1000}}}}
	}
	syntheticOnly := &Report{HoldSeconds: 30, Params: ReportParams{Publisher: PublisherSynthetic},
		Synthetic: SyntheticSummary{Target: 4, Connected: 4, Packets: 10000, Latency: Dist{Count: 100, P99: 5}, FirstKeyframe: Dist{Count: 4, P95: 200}}}
	tests := []struct {
		name   string
		r      *Report
		th     Thresholds
		pass   bool
		failed []string
		na     []string
	}{
		{"18 freezes and g2g p95 643 ms fail", browserRun(18, 643), Thresholds{}, false, []string{"g2g_p95", "freezes"}, nil},
		{"a watchable show passes", browserRun(1, 120), Thresholds{}, true, nil, nil},
		{"many freezes alone fail", browserRun(9, 120), Thresholds{}, false, []string{"freezes"}, nil},
		{"freezes off", browserRun(18, 120), Thresholds{MaxFreezes: -1}, true, nil, nil},
		{"explicit freeze limit", browserRun(3, 120), Thresholds{MaxFreezes: 5, CheckFreezes: true}, true, nil, nil},
		{"g2g limit raised", browserRun(0, 643), Thresholds{MaxG2GP95: time.Second}, true, nil, nil},
		{"g2g off", browserRun(0, 643), Thresholds{MaxG2GP95: -1}, true, nil, nil},
		{"synthetic publisher: g2g and browser figures are not checked", syntheticOnly, Thresholds{}, true, nil, nil},
		{"browser viewers of the synthetic publisher: g2g n/a", func() *Report {
			r := browserRun(0, 0)
			r.Params.Publisher, r.Browser.G2G = PublisherSynthetic, Dist{}
			return r
		}(), Thresholds{}, true, nil, []string{"g2g_p95"}},
		{"explicit g2g that cannot be measured fails", syntheticOnly, Thresholds{MaxG2GP95: 300 * time.Millisecond}, false, []string{"g2g_p95"}, nil},
		{"default loss limit", func() *Report { r := browserRun(0, 100); r.Synthetic.Lost = 300; return r }(), Thresholds{}, false, []string{"loss"}, nil},
		{"slow first keyframe", func() *Report { r := browserRun(0, 100); r.Synthetic.FirstKeyframe.P95 = 4000; return r }(), Thresholds{}, false, []string{"first_keyframe_p95"}, nil},
		{"a browser viewer that never plays", func() *Report {
			r := browserRun(0, 100)
			r.Browser.Playing, r.Browser.Viewers[1].State = 1, "connecting"
			return r
		}(), Thresholds{}, false, []string{"connected"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Evaluate(tt.th.WithDefaults()); got != tt.pass {
				t.Errorf("Evaluate = %v, want %v; checks:\n%s", got, tt.pass, checksText(tt.r))
			}
			var failed, na []string
			for _, c := range tt.r.Checks {
				switch c.Result() {
				case "FAIL":
					failed = append(failed, c.Name)
				case "n/a":
					na = append(na, c.Name)
				}
			}
			if strings.Join(failed, ",") != strings.Join(tt.failed, ",") {
				t.Errorf("failed checks = %v, want %v:\n%s", failed, tt.failed, checksText(tt.r))
			}
			if tt.na != nil && strings.Join(na, ",") != strings.Join(tt.na, ",") {
				t.Errorf("n/a checks = %v, want %v", na, tt.na)
			}
		})
	}
	// The connected check says who is missing.
	r := browserRun(0, 100)
	r.Browser.Playing, r.Browser.Viewers[1].State = 1, "connecting"
	r.Evaluate(Thresholds{}.WithDefaults())
	if c := r.Checks[0]; c.Name != "connected" || !strings.Contains(c.Note, `browser 1/2 playing (#1: state "connecting", 0 frames decoded)`) {
		t.Errorf("connected check = %+v", c)
	}
}

func checksText(r *Report) string {
	var b strings.Builder
	for _, c := range r.Checks {
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

// TestReportNotMeasured: what a run did not measure reads "n/a", not 0, and figures are rounded.
func TestReportNotMeasured(t *testing.T) {
	r := &Report{Started: time.Unix(0, 0), HoldSeconds: 3.0004, Params: ReportParams{Publisher: PublisherSynthetic, Viewers: 1, BrowserViewers: 1},
		Synthetic: SyntheticSummary{Target: 1, Connected: 1, Packets: 100, Join: Dist{Count: 1, P50: 12.3456, P90: 12.3456, P95: 12.3456, P99: 12.3456, Max: 12.3456}},
		Server:    ServerSummary{Measured: true, CPUCoresMean: 0.123456},
		Browser:   &BrowserSummary{Target: 1, Viewers: []BrowserViewer{{State: "connecting"}}}}
	r.Evaluate(Thresholds{}.WithDefaults())
	var html bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	row := func(label string) string {
		m := regexp.MustCompile(`<tr><td>` + regexp.QuoteMeta(label) + `[^<]*</td>(.*?)</tr>`).FindStringSubmatch(h)
		if m == nil {
			t.Fatalf("no row %q in the HTML", label)
		}
		return m[1]
	}
	tests := []struct{ row, want string }{
		{"publisher → viewer latency", "<td>0</td><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td>"},
		{"first keyframe (offer → keyframe)", "<td>0</td><td>n/a</td>"},
		{"glass-to-glass (clock", "<td>0</td><td>n/a</td>"},
		{"join (offer → connected)", "<td>1</td><td>12.3</td>"},
		{"latency_p99", "<td>n/a</td><td>250 (default)</td>"},
		{"g2g_p95", "<td>n/a</td>"},
	}
	for _, tt := range tests {
		if got := row(tt.row); !strings.HasPrefix(got, tt.want) {
			t.Errorf("row %q = %s, want it to start with %s", tt.row, got, tt.want)
		}
	}
	// Server: /proc was not read, CPU was (rounded); the browser tab decoded nothing.
	if !strings.Contains(h, "<td>0.12</td><td>n/a</td>") {
		t.Error("server row: want CPU 0.12 and /proc n/a")
	}
	if !strings.Contains(h, "<td>0</td><td>connecting</td><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td>") {
		t.Errorf("browser viewer row: want n/a for first frame, jb, proc and g2g:\n%s", h[strings.Index(h, "<th>#</th>"):])
	}
	if strings.Contains(h, "3.0004") || strings.Contains(h, "0.123456") || strings.Contains(h, "12.3456") {
		t.Error("figures are not rounded")
	}
	for _, c := range r.Checks {
		if !c.Measured && !strings.Contains(c.String(), "n/a") {
			t.Errorf("check %s prints %q", c.Name, c.String())
		}
	}
}

// TestChartLegendClearOfTitle: a chart's legend sits on its own line below the title, however
// long the title and however many series.
func TestChartLegendClearOfTitle(t *testing.T) {
	r := withSamples()
	r.Ramp = &PublisherRamp{Samples: []RampSample{{T: 1}, {T: 2}}}
	yOf := regexp.MustCompile(`<text x="[0-9.]+" y="([0-9.]+)" font-size="(\d+)"[^>]*>([^<]*)</text>`)
	for _, c := range r.Charts() {
		svg := string(c)
		title := yOf.FindStringSubmatch(svg)
		ty, _ := strconv.ParseFloat(title[1], 64)
		legend := regexp.MustCompile(`<rect x="[0-9.]+" y="([0-9.]+)" width="10" height="3"`).FindAllStringSubmatch(svg, -1)
		if len(legend) == 0 {
			t.Errorf("chart %q: no legend", title[3])
		}
		for _, l := range legend {
			top, _ := strconv.ParseFloat(l[1], 64)
			if top <= ty+4 {
				t.Errorf("chart %q: legend at y=%v overlaps the title (baseline %v)", title[3], top, ty)
			}
		}
	}
}
