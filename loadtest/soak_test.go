package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSoakChurnSchedule(t *testing.T) {
	if got := churnCount(100, 10); got != 10 {
		t.Fatalf("churnCount(100, 10%%) = %d, want 10", got)
	}
	for _, c := range []struct {
		n    int
		pct  float64
		want int
	}{{5, 10, 1}, {0, 10, 0}, {100, 0, 0}, {10, 100, 10}, {15, 10, 2}} {
		if got := churnCount(c.n, c.pct); got != c.want {
			t.Errorf("churnCount(%d, %g) = %d, want %d", c.n, c.pct, got, c.want)
		}
	}
	// 100 viewers, 10 a round: every viewer churns exactly once in 10 rounds, 10 distinct a round
	seen := map[int]int{}
	for r := range 10 {
		s := churnSchedule(100, 10, r)
		if len(s) != 10 {
			t.Fatalf("round %d: %d slots", r, len(s))
		}
		round := map[int]bool{}
		for _, i := range s {
			if i < 0 || i >= 100 || round[i] {
				t.Fatalf("round %d: bad or repeated slot %d in %v", r, i, s)
			}
			round[i] = true
			seen[i]++
		}
	}
	for i := range 100 {
		if seen[i] != 1 {
			t.Fatalf("slot %d churned %d times in 10 rounds, want 1", i, seen[i])
		}
	}
	// round 10 starts over; a window that does not divide n wraps
	if got := churnSchedule(100, 10, 10); got[0] != 0 {
		t.Errorf("round 10 starts at %d, want 0", got[0])
	}
	if got := churnSchedule(7, 3, 2); got[0] != 6 || got[1] != 0 || got[2] != 1 {
		t.Errorf("churnSchedule(7, 3, 2) = %v, want [6 0 1]", got)
	}
	if churnSchedule(0, 3, 0) != nil || churnSchedule(5, 0, 0) != nil {
		t.Error("an empty pool or no churn must give no slots")
	}
}

func TestSoakLeastSquares(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4}
	y := []float64{10, 12, 14, 16, 18}
	if got := leastSquares(x, y); math.Abs(got-2) > 1e-9 {
		t.Fatalf("slope = %g, want 2", got)
	}
	if got := leastSquares(x, []float64{5, 5, 5, 5, 5}); got != 0 {
		t.Fatalf("flat slope = %g", got)
	}
	// noise around a line: the fit finds the line
	if got := leastSquares(x, []float64{1, -1, 1, -1, 1}); math.Abs(got) > 0.01 {
		t.Fatalf("noise slope = %g, want ~0", got)
	}
	if leastSquares([]float64{1}, []float64{1}) != 0 || leastSquares([]float64{2, 2}, []float64{1, 3}) != 0 {
		t.Fatal("degenerate input must give 0")
	}
}

// soakSamples is a synthetic run: a baseline, n load samples 30 s apart with f(i) as every
// resource, then the after samples.
func soakSamples(n int, f func(i int) float64, after float64) []SoakSample {
	s := []SoakSample{{T: 0, Phase: "baseline", ServerOK: true, RSSMB: 40, HeapMB: 10, Goroutines: 40, OpenFDs: 25}}
	for i := range n {
		v := f(i)
		s = append(s, SoakSample{T: float64(30 * (i + 1)), Phase: "load", ServerOK: true, RSSMB: v, HeapMB: v / 2, Goroutines: v * 10, OpenFDs: v,
			VideoPackets: int64(1000 * (i + 1)), Load1: 2})
	}
	last := s[len(s)-1]
	for j := range 4 {
		a := last
		a.T, a.Phase = last.T+float64(30*(j+1)), "after"
		a.RSSMB, a.HeapMB, a.Goroutines, a.OpenFDs = min(last.RSSMB, 40+after), 10+after/4, 40+after, 25+after/4
		s = append(s, a)
	}
	return s
}

func TestSoakAnalyze(t *testing.T) {
	// 120 samples = 1 h: flat with noise, back to baseline
	flat := &SoakReport{Params: SoakParamsJSON{SampleS: 30}, Samples: soakSamples(120, func(i int) float64 { return 100 + float64(i%3) }, 0)}
	flat.Analyze()
	v := flat.Verdict
	if !v.Flat || !v.BackToBaseline || !v.NoLoss || !v.FullDuration || !v.Pass {
		t.Fatalf("a flat run that returns: verdict %+v", v)
	}
	if math.Abs(v.LoadHours-1) > 0.01 {
		t.Errorf("load hours %g, want 1", v.LoadHours)
	}
	rss := flat.Series[0]
	if rss.Name != "rss" || rss.Baseline != 40 || rss.Max != 102 || rss.HalfPoints != 60 || math.Abs(rss.SlopePerH) > 1 {
		t.Errorf("rss series %+v", rss)
	}
	if flat.Load.Mean != 2 || flat.Load.Max != 2 {
		t.Errorf("load average %+v", flat.Load)
	}

	// RSS, heap, goroutines and fds rising 1 per sample in the second half: 120 per hour
	rising := &SoakReport{Params: SoakParamsJSON{SampleS: 30}, Samples: soakSamples(120, func(i int) float64 { return 100 + float64(max(i-60, 0)) }, 0)}
	rising.Analyze()
	if rising.Verdict.Flat || rising.Verdict.Pass {
		t.Fatalf("a rising run must not be flat: %+v", rising.Verdict)
	}
	if s := rising.Series[0]; math.Abs(s.SlopePerH-120) > 1 || s.Flat == nil || *s.Flat {
		t.Errorf("rising rss: slope %g/h, flat %v", s.SlopePerH, s.Flat)
	}

	// flat under load, but goroutines and fds stay up afterwards
	stuck := &SoakReport{Params: SoakParamsJSON{SampleS: 30}, Samples: soakSamples(120, func(int) float64 { return 100 }, 200)}
	stuck.Analyze()
	if !stuck.Verdict.Flat || stuck.Verdict.BackToBaseline || stuck.Verdict.Pass {
		t.Fatalf("a run that does not return: %+v", stuck.Verdict)
	}

	// an accepted bid lost, or video loss, fails the loss check
	lossy := &SoakReport{Params: SoakParamsJSON{SampleS: 30}, Samples: soakSamples(120, func(int) float64 { return 100 }, 0)}
	for i := range lossy.Samples {
		lossy.Samples[i].AcceptedLost = 1
		lossy.Samples[i].VideoLost = lossy.Samples[i].VideoPackets / 100
	}
	lossy.Analyze()
	if lossy.Verdict.NoLoss || lossy.Verdict.AcceptedBidsLost != 1 || lossy.Verdict.VideoLossPct < 0.9 {
		t.Fatalf("lossy run: %+v", lossy.Verdict)
	}

	// cut short: 20 samples and no after phase
	cut := &SoakReport{Interrupted: true, Params: SoakParamsJSON{SampleS: 30}, Samples: soakSamples(20, func(int) float64 { return 100 }, 0)[:21]}
	cut.Analyze()
	if cut.Verdict.FullDuration || cut.Verdict.Pass || cut.Verdict.BackToBaseline {
		t.Fatalf("a run cut short: %+v", cut.Verdict)
	}
	if !strings.Contains(strings.Join(cut.Verdict.Reasons, "\n"), "cut short") {
		t.Errorf("reasons %q", cut.Verdict.Reasons)
	}
}

func TestSoakReportWrites(t *testing.T) {
	r := &SoakReport{Started: time.Date(2026, 12, 7, 11, 47, 0, 0, time.UTC), Params: SoakParamsJSON{SampleS: 30, Viewers: 100, Chatters: 20, LotBidders: 50},
		Samples: soakSamples(10, func(i int) float64 { return 100 + float64(i) }, 0)}
	r.LoadEnded = r.Started.Add(300 * time.Second)
	r.Analyze()
	var md, h, js bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Soak 2026-12-07 11:47 UTC", "| rss MB | 40 |", "| goroutines  | 40 |", "Verdict:", "Load average"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if n := strings.Count(h.String(), "<svg"); n != 10 {
		t.Errorf("html has %d plots, want 10", n)
	}
	if !strings.Contains(h.String(), "<polyline") || !strings.Contains(h.String(), "shaded: under load") {
		t.Error("html plots lack their line or legend")
	}
	var back SoakReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Samples) != len(r.Samples) || len(back.Series) != len(r.Series) || back.Verdict.Pass != r.Verdict.Pass {
		t.Errorf("JSON round trip: %d samples, %d series", len(back.Samples), len(back.Series))
	}
	if p := soakPlot("x", "", nil, func(SoakSample) float64 { return 0 }, 0); !strings.Contains(p, "no samples") {
		t.Error("an empty plot must say so")
	}
}

func TestSoakReadProc(t *testing.T) {
	f, err := os.Open(os.DevNull) // one more fd that is not a socket
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := readProcSoak("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pr.fds < 4 || pr.threads < 1 || pr.rss <= 0 || pr.cpu < 0 || pr.sockets > pr.fds {
		t.Fatalf("own process: %+v", pr)
	}
	if _, err := readProcSoak("/proc", 1<<30); err == nil {
		t.Fatal("a missing pid must be an error")
	}
	if l := loadAvg1(); l < 0 {
		t.Fatalf("load average %g", l)
	}
}

func TestSoakParamsValidate(t *testing.T) {
	ok := SoakParams{OutDir: t.TempDir(), UploadFile: "x.mp4", Base: Params{URL: "http://127.0.0.1:1", Room: "soak", Token: "t",
		Mint: func(MintRequest) (string, error) { return "", nil }}}
	if err := ok.withDefaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	d := ok.withDefaults()
	if d.Duration != time.Hour || d.SampleEvery != 30*time.Second || d.Viewers != 100 || d.ChurnPct != 10 || d.ChurnEvery != time.Minute ||
		d.Chatters != 20 || d.LotEvery != 2*time.Minute || d.LotBidders != 50 || d.UploadEvery != 5*time.Minute || d.After != 5*time.Minute ||
		d.Base.ViewerKind != ViewerLean {
		t.Fatalf("defaults %+v", d)
	}
	for name, mut := range map[string]func(*SoakParams){
		"no out dir":    func(p *SoakParams) { p.OutDir = "" },
		"no mint":       func(p *SoakParams) { p.Base.Mint = nil },
		"no token":      func(p *SoakParams) { p.Base.Token = "" },
		"churn 200":     func(p *SoakParams) { p.ChurnPct = 200 },
		"short":         func(p *SoakParams) { p.Duration = time.Second },
		"upload,nofile": func(p *SoakParams) { p.UploadFile = "" },
		"viewers":       func(p *SoakParams) { p.Viewers = 100000 },
	} {
		p := ok
		mut(&p)
		if err := p.withDefaults().Validate(); !errors.Is(err, ErrBadParams) {
			t.Errorf("%s: %v, want ErrBadParams", name, err)
		}
	}
	noUp := ok
	noUp.UploadFile, noUp.UploadEvery = "", -1
	if err := noUp.withDefaults().Validate(); err != nil {
		t.Errorf("no uploads: %v", err)
	}
}

func TestSoakRenderDir(t *testing.T) {
	dir := t.TempDir()
	r := &SoakReport{Started: time.Date(2026, 12, 7, 11, 47, 0, 0, time.UTC), Params: SoakParamsJSON{SampleS: 30},
		Samples: soakSamples(10, func(int) float64 { return 100 }, 0)[:11]} // a run still under load
	s := &soak{sp: SoakParams{OutDir: dir}, rep: r}
	r.Analyze()
	if err := s.writeReports(); err != nil {
		t.Fatal(err)
	}
	// samples.jsonl has more than soak.json (the run went on), the last line cut by a kill
	var jl bytes.Buffer
	for _, smp := range soakSamples(20, func(int) float64 { return 100 }, 0)[:21] {
		b, _ := json.Marshal(smp)
		jl.Write(append(b, '\n'))
	}
	jl.WriteString(`{"t": 630, "pha`)
	if err := os.WriteFile(dir+"/samples.jsonl", jl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := RenderSoakDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Samples) != 21 || got.Verdict.Pass {
		t.Fatalf("%d samples, verdict %+v", len(got.Samples), got.Verdict)
	}
	if !strings.Contains(strings.Join(got.Verdict.Reasons, "\n"), "still going") {
		t.Errorf("a snapshot must say the run is still going: %q", got.Verdict.Reasons)
	}
	md, err := os.ReadFile(dir + "/soak.md")
	if err != nil || !strings.Contains(string(md), "still going") {
		t.Fatalf("soak.md not rewritten: %v", err)
	}
	if _, err := RenderSoakDir(t.TempDir()); err == nil {
		t.Fatal("a directory without soak.json must be an error")
	}
}

func TestSoakAcceptedSockets(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:80F8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:80F8 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D431 0100007F:80F8 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:80F8 0100007F:D432 01 00000000:00000000 00:00000000 00000000     0        0 444 1 0000000000000000 20 4 30 10 -1
`
	// port 0x80F8 = 33016; 444 belongs to another process
	if got := countAccepted(table, 33016, map[string]bool{"111": true, "222": true, "333": true}); got != 2 {
		t.Fatalf("countAccepted = %g, want 2 (the listener and one accepted connection)", got)
	}
	// the real thing: this process listens and accepts one connection
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pr, err := readProcSoak("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if got := acceptedSockets("/proc", os.Getpid(), port, pr.inodes); got != 2 {
		t.Fatalf("accepted sockets on :%d = %g, want 2 (listener + accepted; the dialing end's local port differs)", port, got)
	}
}

// The heap's return (docs/RELIABILITY.md "Soak"): the live heap must come back to its baseline;
// the heap in use only must not end above its last value under load — unless the samples have
// no live heap (an older sampler), when the heap in use is held to the baseline as before.
func TestSoakHeapReturnRules(t *testing.T) {
	run := func(live bool, liveAfter float64) SoakVerdict {
		s := soakSamples(120, func(int) float64 { return 100 }, 0) // heap in use 50 under load, 10 at the baseline
		for i := range s {
			switch s[i].Phase {
			case "after":
				s[i].HeapMB = 40 // below the load's 50, far above the baseline's 10
				s[i].HeapLiveMB = liveAfter
			case "baseline":
				s[i].HeapLiveMB = 5
			default:
				s[i].HeapLiveMB = 45
			}
			if !live {
				s[i].HeapLiveMB = 0
			}
		}
		r := &SoakReport{Params: SoakParamsJSON{SampleS: 30}, Samples: s}
		r.Analyze()
		names := map[string]bool{}
		for _, se := range r.Series {
			names[se.Name] = true
		}
		if names["heap_live"] != live {
			t.Errorf("live sampled %v: series %v", live, names)
		}
		return r.Verdict
	}
	if v := run(true, 9); !v.BackToBaseline || !v.Pass {
		t.Errorf("live heap back (9 MB, baseline 5): %+v", v)
	}
	if v := run(true, 30); v.BackToBaseline || !strings.Contains(strings.Join(v.Reasons, "\n"), "heap_live ends at 30") {
		t.Errorf("live heap held (30 MB, baseline 5): %+v", v)
	}
	if v := run(false, 0); v.BackToBaseline || !strings.Contains(strings.Join(v.Reasons, "\n"), "heap_inuse ends at 40") {
		t.Errorf("no live heap sampled, heap in use 40 MB after, baseline 10: %+v", v)
	}
}
