package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained HTML report (inline CSS and SVG charts, no scripts, no CDN).
func (r *Report) WriteHTML(w io.Writer) error {
	return htmlTmpl.Execute(w, r)
}

type series struct {
	Name  string
	Color string
	Y     []float64
}

// svgChart draws a line chart of series over x (seconds) with a shaded hold window.
func svgChart(title, unit string, x []float64, holdFrom float64, ss ...series) template.HTML {
	// The title is on the first line, the legend on its own line below it (so a long title and
	// many series never overlap), then the plot.
	const W, H, L, R, T, B = 720.0, 236.0, 56.0, 12.0, 44.0, 30.0
	const legendY = 34.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s"><rect width="100%%" height="100%%" fill="#fff"/>`, W, H, W, H, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="13" font-weight="600">%s</text>`, L, template.HTMLEscapeString(title))
	if len(x) == 0 {
		b.WriteString(`<text x="56" y="110" font-size="12" fill="#888">no data</text></svg>`)
		return template.HTML(b.String())
	}
	xmax := x[len(x)-1]
	if xmax <= 0 {
		xmax = 1
	}
	ymax := 0.0
	for _, s := range ss {
		for _, v := range s.Y {
			if !math.IsNaN(v) {
				ymax = max(ymax, v)
			}
		}
	}
	ymax = niceCeil(ymax)
	px := func(v float64) float64 { return L + (W-L-R)*v/xmax }
	py := func(v float64) float64 { return H - B - (H-T-B)*v/ymax }
	if holdFrom >= 0 && holdFrom < xmax {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="#eef6ee"/>`, px(holdFrom), T, px(xmax)-px(holdFrom), H-T-B)
	}
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" font-size="10" text-anchor="end">%s</text>`,
			L, W-R, py(v), py(v), L-4, py(v)+3, fmtNum(v))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="middle">seconds (shaded: hold window)</text>`, (L+W)/2, H-4)
	fmt.Fprintf(&b, `<text x="4" y="%.0f" font-size="10">%s</text>`, T-4, template.HTMLEscapeString(unit))
	for i := 0; i <= 5; i++ {
		v := xmax * float64(i) / 5
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" text-anchor="middle">%.0f</text>`, px(v), H-B+12, v)
	}
	for _, s := range ss {
		var pts []string
		for i, v := range s.Y {
			if i < len(x) && !math.IsNaN(v) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x[i]), py(v)))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`, s.Color, strings.Join(pts, " "))
	}
	lx := L
	for _, s := range ss {
		fmt.Fprintf(&b, `<g class="legend"><rect x="%.0f" y="%.0f" width="10" height="3" fill="%s"/><text x="%.0f" y="%.0f" font-size="11">%s</text></g>`,
			lx, legendY-5, s.Color, lx+14, legendY, template.HTMLEscapeString(s.Name))
		lx += 14 + 6.5*float64(len([]rune(s.Name))) + 18
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// fmtFigure rounds a figure for reading: no decimals from 100 up, one from 10, two below.
func fmtFigure(v float64) string {
	a := math.Abs(v)
	var s string
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// FormatFigure is how reports print a figure: rounded for reading, no decimals from 100 up,
// one from 10, two below.
func FormatFigure(v float64) string { return fmtFigure(v) }

// na is fmtFigure(v) when the figure was measured, else "n/a".
func na(v float64, measured bool) string {
	if !measured {
		return "n/a"
	}
	return fmtFigure(v)
}

// distCells renders a distribution's count, p50, p90, p95, p99 (if withP99) and max as table
// cells: n/a when nothing was measured.
func distCells(d Dist, withP99 bool) template.HTML {
	vals := []float64{d.P50, d.P90, d.P95}
	if withP99 {
		vals = append(vals, d.P99)
	}
	vals = append(vals, d.Max)
	var b strings.Builder
	fmt.Fprintf(&b, "<td>%d</td>", d.Count)
	for _, v := range vals {
		fmt.Fprintf(&b, "<td>%s</td>", na(v, d.Count > 0))
	}
	return template.HTML(b.String())
}

func fmtNum(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// Charts builds the report's charts.
func (r *Report) Charts() []template.HTML {
	x := make([]float64, len(r.Samples))
	hold := -1.0
	col := func(f func(Sample) float64) []float64 {
		out := make([]float64, len(r.Samples))
		for i, s := range r.Samples {
			out[i] = f(s)
		}
		return out
	}
	for i, s := range r.Samples {
		x[i] = s.T
		if s.Phase == "hold" && hold < 0 {
			hold = s.T
		}
	}
	nan := func(f func(Sample) float64) func(Sample) float64 {
		return func(s Sample) float64 {
			if v := f(s); v > 0 {
				return v
			}
			return math.NaN()
		}
	}
	// Series a run did not measure are left out, not drawn as zero.
	viewers := []series{
		{"synthetic", "#1f77b4", col(func(s Sample) float64 { return float64(s.Viewers) })},
		{"server (metrics)", "#2ca02c", col(func(s Sample) float64 { return s.ServerViewers })},
	}
	if r.Params.BrowserViewers > 0 {
		viewers = append(viewers, series{"browser", "#d62728", col(func(s Sample) float64 { return float64(s.BrowserViewers) })})
	}
	cpu := []series{{"/metrics", "#ff7f0e", col(func(s Sample) float64 { return s.CPUCores })}}
	if r.Params.ServerPID > 0 {
		cpu = append(cpu, series{"/proc", "#9467bd", col(func(s Sample) float64 { return s.ProcCPUCores })})
	}
	charts := []template.HTML{
		svgChart("Viewers", "viewers", x, hold, viewers...),
		svgChart("Server CPU", "cores", x, hold, cpu...),
		svgChart("Forwarded bitrate", "bit/s", x, hold,
			series{"server sent", "#1f77b4", col(func(s Sample) float64 { return s.ForwardedBps })},
			series{"synthetic received", "#2ca02c", col(func(s Sample) float64 { return s.ReceivedBps })}),
		svgChart("Loss (synthetic viewers)", "%", x, hold,
			series{"loss", "#d62728", col(func(s Sample) float64 { return s.LossPct })}),
		svgChart("Publisher → synthetic viewer latency", "ms", x, hold,
			series{"p50", "#2ca02c", col(nan(func(s Sample) float64 { return s.LatencyP50 }))},
			series{"p95", "#ff7f0e", col(nan(func(s Sample) float64 { return s.LatencyP95 }))},
			series{"p99", "#d62728", col(nan(func(s Sample) float64 { return s.LatencyP99 }))}),
		svgChart("Server RSS", "bytes", x, hold,
			series{"rss", "#8c564b", col(func(s Sample) float64 { return s.RSSBytes })}),
	}
	if r.Browser != nil {
		charts = append(charts,
			svgChart("Browser glass-to-glass", "ms", x, hold,
				series{"p50", "#2ca02c", col(nan(func(s Sample) float64 { return s.G2GP50 }))},
				series{"p95", "#d62728", col(nan(func(s Sample) float64 { return s.G2GP95 }))}),
			svgChart("Browser per-frame delays", "ms", x, hold,
				series{"jitter buffer", "#1f77b4", col(nan(func(s Sample) float64 { return s.JitterBufferMs }))},
				series{"processing", "#ff7f0e", col(nan(func(s Sample) float64 { return s.ProcessingMs }))}),
			svgChart("Browser freezes (cumulative)", "freezes", x, hold,
				series{"freezes", "#d62728", col(func(s Sample) float64 { return float64(s.Freezes) })}))
	}
	if r.Ramp != nil {
		charts = append(charts, r.Ramp.chart())
	}
	if r.Live != nil {
		charts = append(charts,
			svgChart("Live room: bids and chat", "per second", x, hold,
				series{"bids answered", "#1f77b4", col(nan(func(s Sample) float64 { return s.BidsPerS }))},
				series{"bids accepted", "#2ca02c", col(nan(func(s Sample) float64 { return s.AcceptedPerS }))},
				series{"chat deliveries / 100", "#9467bd", col(nan(func(s Sample) float64 { return s.ChatDeliveriesPerS / 100 }))}),
			svgChart("Live room latency (p95)", "ms", x, hold,
				series{"bid → accepted", "#1f77b4", col(nan(func(s Sample) float64 { return s.BidP95 }))},
				series{"price on viewer sockets", "#ff7f0e", col(nan(func(s Sample) float64 { return s.PriceFanoutP95 }))},
				series{"chat delivery", "#9467bd", col(nan(func(s Sample) float64 { return s.ChatP95 }))}))
	}
	return charts
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"mb":   func(v float64, measured bool) string { return na(v/1e6, measured) + " MB" },
	"num":  fmtFigure,
	"na":   na,
	"dist": distCells,
	"pos":  func(v float64) bool { return v > 0 },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>relaycast loadtest {{.Params.Room}} {{.Started.Format "2006-01-02 15:04"}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.na{color:#888}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #eee}
code{background:#f5f5f5;padding:1px 4px}
</style></head><body>
<h1>relaycast loadtest — {{if .Pass}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}{{if .Interrupted}} (interrupted){{end}}</h1>
<p>{{.Params.URL}} room <code>{{.Params.Room}}</code> · publisher {{.Params.Publisher}} · {{.Params.Viewers}} synthetic ({{.Params.Signaling}}) + {{.Params.BrowserViewers}} browser viewers · ramp {{num .Params.Ramp}}/s · hold {{num .HoldSeconds}} s · {{.Started.Format "2006-01-02 15:04:05 MST"}}</p>
{{with .Params}}{{if or .Bidders .Chatters .LiveViewers}}<p>live room: {{.Bidders}} bidders ({{num .BidRate}} bids/s) · {{.Chatters}} chatters ({{num .ChatRate}} msgs/s) · {{.LiveViewers}} viewer sockets · {{.Stalled}} stalled · lot {{num .LotDurationS}} s</p>{{end}}{{end}}
{{range .Notes}}<p>{{.}}</p>{{end}}
{{with .Recording}}<p>Recording: {{.Note}}</p>{{end}}
<h2>Checks</h2>
<table><tr><th>check</th><th>value</th><th>limit</th><th>unit</th><th>result</th></tr>
{{range .Checks}}<tr><td>{{.Name}}</td><td>{{na .Value .Measured}}</td><td>{{num .Limit}}{{if .Default}} (default){{end}}</td><td>{{.Unit}}</td><td>{{if not .Measured}}{{if .Pass}}<span class="na">n/a</span>{{else}}<span class="fail">fail</span>{{end}}{{else if .Pass}}<span class="pass">pass</span>{{else}}<span class="fail">fail</span>{{end}} {{.Note}}</td></tr>{{end}}
</table>
<h2>Server (hold window)</h2>
<table><tr><th>CPU cores (/metrics)</th><th>CPU cores (/proc)</th><th>CPU max</th><th>RSS max</th><th>forwarded</th><th>packets sent</th><th>dropped</th><th>viewers / core</th><th>CPU ms / viewer·s</th></tr>
{{with .Server}}<tr><td>{{na .CPUCoresMean .Measured}}</td><td>{{na .ProcCPUCoresMean .ProcMeasured}}</td><td>{{na .CPUCoresMax .Measured}}</td><td>{{mb .RSSMaxBytes .Measured}}</td><td>{{na .ForwardedMbps .Measured}} Mb/s</td><td>{{na .PacketsSent .Measured}}</td><td>{{na .PacketsDropped .Measured}}</td><td>{{na .ViewersPerCore (pos .ViewersPerCore)}}</td><td>{{na .CPUMsPerViewerS (pos .CPUMsPerViewerS)}}</td></tr>{{end}}</table>
<h2>Synthetic viewers</h2>
{{with .Synthetic}}{{if .Target}}<p>{{.Connected}} of {{.Target}} joined, {{.Failed}} failed, {{.Disconnected}} dropped · hold window: {{.Packets}} packets, {{.Lost}} lost ({{na .LossPct (gt .Packets 0)}} %) · {{na .MbpsPerViewer (pos .MbpsPerViewer)}} Mb/s per viewer</p>
<table><tr><th>ms</th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>
<tr><td>join (offer → connected)</td>{{dist .Join true}}</tr>
<tr><td>first keyframe (offer → keyframe)</td>{{dist .FirstKeyframe true}}</tr>
<tr><td>publisher → viewer latency</td>{{dist .Latency true}}</tr></table>
{{range .FirstErrors}}<p class="fail">{{.}}</p>{{end}}{{else}}<p>none</p>{{end}}{{end}}
{{with .HLS}}<h2>LL-HLS viewers</h2>
<p>{{.Active}} of {{.Target}} reading · hold window: {{.Parts}} parts, {{.Playlists}} blocking reloads, {{.Errors}} errors · {{num .MbpsPerViewer}} Mb/s per viewer</p>
<table><tr><th>ms</th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>
<tr><td>hinted part: request → last byte</td>{{dist .PartWait true}}</tr>
<tr><td>blocking delta reload</td>{{dist .Reload true}}</tr></table>
{{range .FirstErrors}}<p class="fail">{{.}}</p>{{end}}{{end}}
{{with .RTCP}}<h2>Viewers' RTCP (hold window, all viewers, per second)</h2>
<table><tr><th></th><th>sent</th><th>per second</th></tr>
<tr><td>receiver reports</td><td>{{.ReceiverReports}}</td><td>{{num .RRPerSecond}}</td></tr>
<tr><td>REMB (negotiated: {{.REMBNegotiated}})</td><td>{{.REMBs}}</td><td>{{num .REMBPerSecond}}</td></tr>
<tr><td>generic NACK packets ({{.NACKedSeqs}} seqs)</td><td>{{.NACKPackets}}</td><td>{{num .NACKPerSecond}}</td></tr>
<tr><td>TWCC feedback (negotiated: {{.TWCCNegotiated}})</td><td>{{.TWCCFeedback}}</td><td>{{num .TWCCPerSecond}}</td></tr></table>
<p>retransmissions received (NACKed packets that arrived): {{.Retransmits}} · dropped on purpose: {{.Dropped}} · sender reports received: {{.SenderReports}} · send errors: {{.SendErrors}}{{if .ServerMeasured}}
· server (/metrics): {{num .ServerRRPerSecond}} RR/s, {{num .ServerNACKedPerSecond}} NACKed packets/s, {{num .ServerResentPerSecond}} resent/s{{end}}</p>{{end}}
{{with .Rooms}}<h2>Rooms (hold window, worst loss first)</h2>
<table><tr><th>room</th><th>viewers</th><th>joined</th><th>packets</th><th>lost</th><th>loss %</th><th>first keyframe p95 ms</th></tr>
{{range .}}<tr><td>{{.Room}}</td><td>{{.Target}}</td><td>{{.Connected}}</td><td>{{.Packets}}</td><td>{{.Lost}}</td><td>{{num .LossPct}}</td><td>{{num .FirstKeyframeP95}}</td></tr>{{end}}</table>{{end}}
{{with .Live}}{{.HTML}}{{end}}
{{with .Browser}}<h2>Browser viewers</h2>
<p>{{.Playing}} of {{.Target}} playing · {{.HoldFreezes}} freezes in the hold window ({{.Freezes}} in all) · video loss {{num .LossPct}} %</p>
<table><tr><th>ms</th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>max</th></tr>
<tr><td>glass-to-glass (clock; --publisher browser only)</td>{{dist .G2G false}}</tr>
<tr><td>page load → first frame</td>{{dist .FirstFrame false}}</tr>
<tr><td>jitter buffer / frame</td>{{dist .JitterBuffer false}}</tr>
<tr><td>processing / frame</td>{{dist .Processing false}}</tr>
<tr><td>jitter buffer + processing</td>{{dist .JBPlusProc false}}</tr></table>
<table><tr><th>#</th><th>state</th><th>first frame ms</th><th>jb ms</th><th>proc ms</th><th>g2g p50</th><th>g2g p95</th><th>frames</th><th>dropped</th><th>freezes</th><th>freeze s</th><th>recv</th><th>lost</th><th>nack</th><th>pli</th><th>res</th><th>fps</th><th>Mb/s</th><th>error</th></tr>
{{range .Viewers}}{{$f := gt .FramesDecoded 0}}<tr><td>{{.Index}}</td><td>{{.State}}</td><td>{{na .FirstFrameMs (pos .FirstFrameMs)}}</td><td>{{na .JitterBufferMs $f}}</td><td>{{na .ProcessingMs $f}}</td><td>{{na .G2G.P50 (gt .G2G.Count 0)}}</td><td>{{na .G2G.P95 (gt .G2G.Count 0)}}</td><td>{{.FramesDecoded}}</td><td>{{.FramesDropped}}</td><td>{{.FreezeCount}}</td><td>{{num .FreezesDurationS}}</td><td>{{.PacketsReceived}}</td><td>{{.PacketsLost}}</td><td>{{.NackCount}}</td><td>{{.PliCount}}</td><td>{{if gt .Width 0}}{{.Width}}×{{.Height}}{{else}}n/a{{end}}</td><td>{{na .FPS $f}}</td><td>{{num .Mbps}}</td><td>{{.Error}}</td></tr>{{end}}
</table>{{end}}
{{with .Ramp}}<h2>Publisher ramp</h2>
<p>source {{.Source}} · layers {{.Layers}} · live {{num .LiveAfterS}} s after navigation · seconds after live to ≥ {{num .TargetBps}} bit/s:
estimate {{with .TimeToBWES}}{{num .}}{{else}}never{{end}}, sent (all layers) {{with .TimeToSentS}}{{num .}}{{else}}never{{end}} (sustained {{with .TimeToSentSustainedS}}{{num .}}{{else}}never{{end}}), top layer {{with .TimeToTopSentS}}{{num .}}{{else}}never{{end}} (sustained {{with .TimeToTopSentSustainedS}}{{num .}}{{else}}never{{end}})
· highest: estimate {{num .MaxBWEBps}}, sent {{num .MaxSentBps}}, top layer {{num .MaxTopSentBps}} bit/s</p>{{end}}
<h2>Timeline</h2>
<div class="charts">{{range .Charts}}{{.}}{{end}}</div>
</body></html>
`))
