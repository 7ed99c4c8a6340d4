package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/relaycast/relaycast/client"
)

// LiveSummary is what the live scenario measured (live.go).
type LiveSummary struct {
	Room       string  `json:"room"`
	Bidders    int     `json:"bidders"`
	Chatters   int     `json:"chatters"`
	Viewers    int     `json:"viewers"` // receive-only sockets
	Stalled    int     `json:"stalled"` // sockets that join and never read again
	Target     int     `json:"target"`  // sockets, the seller's not counted
	Joined     int     `json:"joined"`
	JoinFailed int64   `json:"join_failed"`
	RunSeconds float64 `json:"run_seconds"` // the measured window (bids and chat sent)
	// GeneratorCores is the harness process's CPU over the window (all of it: live sockets and
	// any video viewers), from /proc/self.
	GeneratorCores float64 `json:"generator_cores"`

	BidRateTarget   float64          `json:"bid_rate_target"`
	BidsSent        int64            `json:"bids_sent"`
	BidResults      int64            `json:"bid_results"`
	BidsAccepted    int64            `json:"bids_accepted"`
	BidErrors       int64            `json:"bid_errors"` // no answer (timeout, socket closed) or an error message
	BidsPerS        float64          `json:"bids_per_s"` // answered bids per second
	AcceptedPerS    float64          `json:"accepted_per_s"`
	Refused         map[string]int64 `json:"refused"`           // refusals by code
	BidLatency      Dist             `json:"bid_result_ms"`     // bid written → bid_result read, every bid
	AcceptedLatency Dist             `json:"bid_accepted_ms"`   // the same, accepted bids only
	Fanout          Dist             `json:"event_fanout_ms"`   // every event on every viewer socket: server at → read
	PriceFanout     Dist             `json:"price_fanout_ms"`   // `bid` events (the new price) on viewer sockets
	BidderFanout    Dist             `json:"bidder_fanout_ms"`  // bid and lot events on bidder sockets
	ChatRateTarget  float64          `json:"chat_rate_target"`  // messages per second, all chatters
	ChatSent        int64            `json:"chat_sent"`         //
	ChatRefused     int64            `json:"chat_refused"`      // error answers (rate_limited, …)
	ChatErrors      map[string]int64 `json:"chat_errors"`       // by code
	ChatPerS        float64          `json:"chat_per_s"`        // sent per second
	ChatDeliveries  int64            `json:"chat_deliveries"`   // chat events read by viewer sockets
	ChatDelivery    Dist             `json:"chat_delivery_ms"`  // chatter send → viewer socket read
	Events          int64            `json:"events"`            // events read by the sockets (stalled ones excepted)
	Gaps            int64            `json:"lost_events"`       // seq gaps, all sockets but the stalled ones
	Dups            int64            `json:"duplicate_events"`  //
	SocketsWithGaps int              `json:"sockets_with_gaps"` //
	SocketsWithDups int              `json:"sockets_with_dups"` //
	SocketsClosed   int              `json:"sockets_closed"`    // non-stalled sockets the server closed during the run
	CloseReasons    map[string]int64 `json:"close_reasons"`     // "code reason" of those
	StalledSockets  []StalledSocket  `json:"stalled_sockets"`   //
	Lot             *client.Lot      `json:"lot,omitempty"`     // as lot_end returned it
	Log             *LogCheck        `json:"bid_log,omitempty"` // accepted bids against the lot's bid log
	ClockNote       string           `json:"clock_note"`        //
	FirstErrors     []string         `json:"first_errors,omitempty"`
	Notes           []string         `json:"notes,omitempty"`
}

// StalledSocket is one socket that stopped reading after its join.
type StalledSocket struct {
	Events      int64  `json:"events"` // events it read in all (after it read again at the end)
	Messages    int64  `json:"messages"`
	Bytes       int64  `json:"bytes"`
	LostEvents  int64  `json:"lost_events"` // seq gaps in what it read
	Closed      bool   `json:"closed"`      // the server closed it
	CloseCode   int    `json:"close_code"`
	CloseReason string `json:"close_reason"`
}

// Live check names.
const (
	checkLiveConnected = "live_connected"
	checkBidP95        = "bid_accept_p95"
	checkPriceP95      = "price_fanout_p95"
	checkChatP95       = "chat_delivery_p95"
	checkGaps          = "lost_events"
	checkDups          = "duplicate_events"
	checkBidsLost      = "bids_lost"
	checkBidsDouble    = "bids_double_accepted"
	checkIncrements    = "bad_increments"
	checkFinal         = "winner_matches_log"
	checkIsolation     = "stalled_isolation"
)

// evaluateLive adds the live scenario's checks.
func (r *Report) evaluateLive(t Thresholds, add func(name, unit string, limit, value float64, measured, max bool, note string)) {
	l := r.Live
	if l == nil {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	// The run had what these checks measure: a figure it still lacks fails, default limit or not.
	must := func(name string, limit, value float64, measured bool, note string) {
		add(name, "ms", limit, value, measured, true, note)
		if c := &r.Checks[len(r.Checks)-1]; !measured {
			c.Pass, c.Note = false, strings.TrimSpace("not measured: "+note)
		}
	}
	if t.MinConnectedPct > 0 && l.Target > 0 {
		add(checkLiveConnected, "%", t.MinConnectedPct, 100*float64(l.Joined)/float64(l.Target), true, false, "")
	}
	if t.MaxBidP95 > 0 && l.Bidders > 0 {
		must(checkBidP95, ms(t.MaxBidP95), l.AcceptedLatency.P95, l.AcceptedLatency.Count > 0, "bid → accepted bid_result")
	}
	if t.MaxPriceP95 > 0 && l.Bidders > 0 && l.Viewers > 0 {
		must(checkPriceP95, ms(t.MaxPriceP95), l.PriceFanout.P95, l.PriceFanout.Count > 0, "new price on viewer sockets")
	}
	if t.MaxChatP95 > 0 && l.Chatters > 0 && l.Viewers > 0 {
		must(checkChatP95, ms(t.MaxChatP95), l.ChatDelivery.P95, l.ChatDelivery.Count > 0, "chatter send → viewer socket")
	}
	// Counts that must be zero (fixed limits).
	zero := func(name string, v float64, measured bool, note string) {
		add(name, "", 0, v, measured, true, note)
		r.Checks[len(r.Checks)-1].Default = true
		if !measured {
			r.Checks[len(r.Checks)-1].Pass = false
		}
	}
	zero(checkGaps, float64(l.Gaps), true, fmt.Sprintf("over %d sockets (%d with gaps)", l.Joined-l.Stalled, l.SocketsWithGaps))
	zero(checkDups, float64(l.Dups), true, "")
	zero(checkIsolation, float64(l.SocketsClosed), true, fmt.Sprintf("non-stalled sockets closed by the server; %d stalled sockets", l.Stalled))
	if l.Bidders > 0 {
		lg := l.Log
		read := lg != nil && lg.Read
		var lost, double, inc float64
		if read {
			lost, double, inc = float64(lg.Lost), float64(lg.DoubleAccepted), float64(lg.NotIncreasing+lg.BadIncrement)
		}
		zero(checkBidsLost, lost, read, "accepted bid_results missing from the bid log")
		zero(checkBidsDouble, double, read, "")
		zero(checkIncrements, inc, read, "accepted prices strictly increasing by valid increments")
		bad := 1.0
		if read && lg.FinalMatches {
			bad = 0
		}
		zero(checkFinal, bad, read, "ended lot's price and winner = the log's last accepted bid")
	}
}

// HTML is the report's live section.
func (l *LiveSummary) HTML() template.HTML {
	if l == nil {
		return ""
	}
	var b strings.Builder
	_ = liveTmpl.Execute(&b, l)
	return template.HTML(b.String())
}

func sortedCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

var liveTmpl = template.Must(template.New("live").Funcs(template.FuncMap{
	"num": fmtFigure, "na": na, "dist": distCells, "counts": sortedCounts,
}).Parse(`<h2>Live room ({{.Room}})</h2>
<p>{{.Joined}} of {{.Target}} sockets joined ({{.JoinFailed}} failed): {{.Bidders}} bidders, {{.Chatters}} chatters, {{.Viewers}} viewer sockets, {{.Stalled}} stalled · measured window {{num .RunSeconds}} s · the harness used {{num .GeneratorCores}} cores</p>
<p>Bids: {{.BidsSent}} sent (target {{num .BidRateTarget}}/s), {{.BidResults}} answered ({{num .BidsPerS}}/s), {{.BidsAccepted}} accepted ({{num .AcceptedPerS}}/s), {{.BidErrors}} errors · refused: {{counts .Refused}}</p>
<p>Chat: {{.ChatSent}} sent ({{num .ChatPerS}}/s, target {{num .ChatRateTarget}}/s), {{.ChatRefused}} refused ({{counts .ChatErrors}}), {{.ChatDeliveries}} deliveries to viewer sockets</p>
<p>Events: {{.Events}} read · lost (seq gaps) {{.Gaps}} on {{.SocketsWithGaps}} sockets · duplicates {{.Dups}} on {{.SocketsWithDups}} sockets · non-stalled sockets closed by the server {{.SocketsClosed}} ({{counts .CloseReasons}})</p>
<table><tr><th>ms</th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>
<tr><td>bid → bid_result (all)</td>{{dist .BidLatency true}}</tr>
<tr><td>bid → accepted bid_result</td>{{dist .AcceptedLatency true}}</tr>
<tr><td>new price (bid event) on viewer sockets</td>{{dist .PriceFanout true}}</tr>
<tr><td>every event on viewer sockets</td>{{dist .Fanout true}}</tr>
<tr><td>bid/lot events on bidder sockets</td>{{dist .BidderFanout true}}</tr>
<tr><td>chat: send → viewer socket</td>{{dist .ChatDelivery true}}</tr></table>
<p class="na">{{.ClockNote}}</p>
{{with .Log}}<h3>Bid log</h3><p>{{.Entries}} entries: {{.Accepted}} accepted ({{.Proxy}} proxy), {{.Refused}} refused · bid_results accepted {{.ClientAccepted}} · lost {{.Lost}} · double-accepted {{.DoubleAccepted}} · not increasing {{.NotIncreasing}} · below increment {{.BadIncrement}} · accepted without a result {{.Phantom}} · final lot matches {{.FinalMatches}} · bid events on a gap-free viewer socket {{.BidEvents}} (match {{.EventsMatch}})</p>
{{range .Problems}}<p class="fail">{{.}}</p>{{end}}{{end}}
{{with .Lot}}<p>Lot {{.ID}}: {{.Status}} at {{.Price}} (start {{.StartPrice}}), {{.BidCount}} bids, winner {{.Winner}} {{.WinnerName}}</p>{{end}}
{{if .StalledSockets}}<table><tr><th>stalled socket</th><th>events read</th><th>closed by the server</th><th>code</th><th>reason</th></tr>
{{range $i, $s := .StalledSockets}}<tr><td>{{$i}}</td><td>{{$s.Events}}</td><td>{{$s.Closed}}</td><td>{{$s.CloseCode}}</td><td>{{$s.CloseReason}}</td></tr>{{end}}</table>{{end}}
{{range .FirstErrors}}<p class="fail">{{.}}</p>{{end}}{{range .Notes}}<p>{{.}}</p>{{end}}
`))

// printLive writes the live summary lines of the text summary.
func printLive(w io.Writer, l *LiveSummary) {
	if l == nil {
		return
	}
	fmt.Fprintf(w, "live: %d/%d sockets joined (%d bidders, %d chatters, %d viewers, %d stalled), window %ss, harness cpu %s cores\n",
		l.Joined, l.Target, l.Bidders, l.Chatters, l.Viewers, l.Stalled, fmtFigure(l.RunSeconds), fmtFigure(l.GeneratorCores))
	if l.Bidders > 0 {
		fmt.Fprintf(w, "bids: %d sent, %d answered (%s/s), %d accepted (%s/s), %d errors; refused %s; accepted p50/p95/p99 %s/%s/%s ms; all results p95 %s ms\n",
			l.BidsSent, l.BidResults, fmtFigure(l.BidsPerS), l.BidsAccepted, fmtFigure(l.AcceptedPerS), l.BidErrors, sortedCounts(l.Refused),
			na(l.AcceptedLatency.P50, l.AcceptedLatency.Count > 0), na(l.AcceptedLatency.P95, l.AcceptedLatency.Count > 0), na(l.AcceptedLatency.P99, l.AcceptedLatency.Count > 0),
			na(l.BidLatency.P95, l.BidLatency.Count > 0))
		fmt.Fprintf(w, "price fan-out to viewer sockets: p50/p95/p99 %s/%s/%s ms over %d deliveries\n",
			na(l.PriceFanout.P50, l.PriceFanout.Count > 0), na(l.PriceFanout.P95, l.PriceFanout.Count > 0), na(l.PriceFanout.P99, l.PriceFanout.Count > 0), l.PriceFanout.Count)
		if g := l.Log; g != nil {
			fmt.Fprintf(w, "bid log: %d entries, %d accepted (%d results said accepted), lost %d, double-accepted %d, not increasing %d, below increment %d, final matches %v, bid events on a viewer %d\n",
				g.Entries, g.Accepted, g.ClientAccepted, g.Lost, g.DoubleAccepted, g.NotIncreasing, g.BadIncrement, g.FinalMatches, g.BidEvents)
		}
	}
	if l.Chatters > 0 {
		fmt.Fprintf(w, "chat: %d sent (%s/s), %d refused (%s), %d deliveries, delivery p50/p95/p99 %s/%s/%s ms\n",
			l.ChatSent, fmtFigure(l.ChatPerS), l.ChatRefused, sortedCounts(l.ChatErrors), l.ChatDeliveries,
			na(l.ChatDelivery.P50, l.ChatDelivery.Count > 0), na(l.ChatDelivery.P95, l.ChatDelivery.Count > 0), na(l.ChatDelivery.P99, l.ChatDelivery.Count > 0))
	}
	fmt.Fprintf(w, "events: %d read, fan-out p50/p95/p99 %s/%s/%s ms, lost %d (%d sockets), duplicates %d, non-stalled sockets closed %d\n",
		l.Events, na(l.Fanout.P50, l.Fanout.Count > 0), na(l.Fanout.P95, l.Fanout.Count > 0), na(l.Fanout.P99, l.Fanout.Count > 0),
		l.Gaps, l.SocketsWithGaps, l.Dups, l.SocketsClosed)
	for i, s := range l.StalledSockets {
		fmt.Fprintf(w, "stalled socket %d: closed by the server %v (%d %q), %d events read (%d messages, %d bytes, %d lost)\n", i, s.Closed, s.CloseCode, s.CloseReason, s.Events, s.Messages, s.Bytes, s.LostEvents)
	}
	for _, e := range l.FirstErrors {
		fmt.Fprintf(w, "live error: %s\n", e)
	}
	for _, n := range l.Notes {
		fmt.Fprintf(w, "live note: %s\n", n)
	}
}

// PrintLive writes the live scenario's summary lines (nothing when the run had none).
func (r *Report) PrintLive(w io.Writer) { printLive(w, r.Live) }
