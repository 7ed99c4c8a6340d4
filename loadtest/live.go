package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/client"
)

// The live scenario (--bidders, --chatters, --live-viewers): many /ws sockets in one room of the
// live family (client.LiveSession). A seller socket creates and starts one lot; bidders bid at
// the next valid amount they know of at --bid-rate in total; chatters chat at --chat-rate in
// total; viewer sockets only join and receive; a few stalled sockets join and never read again.
// It measures bid → bid_result latency, event fan-out (the event's server `at` against the
// time the socket read it: the harness and the server must share one clock, i.e. one box),
// chat delivery (the sender's send time, carried in the text, against the receive time), lost
// (seq gaps) and duplicate events per socket, and, after the lot ends, the accepted bids
// against the lot's bid log (livecheck.go).

// MintRequest asks for a token: the harness mints one per bidder and chatter (distinct
// subjects) and one for the seller.
type MintRequest struct {
	Room, Subject, Name string
	Grants              []string // "bid", "chat", "publish", …
}

// liveEnabled: the run has a live scenario.
func (p Params) liveEnabled() bool { return p.Bidders > 0 || p.Chatters > 0 || p.LiveViewers > 0 }

type liveSock struct {
	s         *client.LiveSession
	role      string // seller | bidder | chatter | viewer | stalled
	idx       int
	bidEvents atomic.Int64
	subject   string
	// bidders: the lot's next valid amount and price as last seen (events and results)
	min, price atomic.Int64
}

type liveRun struct {
	p   Params
	log *slog.Logger
	hc  *http.Client

	sellerTok string
	seller    *liveSock
	socks     []*liveSock // everyone but the seller
	lot       client.Lot
	lotMu     sync.Mutex

	running atomic.Bool
	cpu0    float64 // this process's CPU seconds at start (the generator's cost)
	genCPU  float64 // cores over the window
	begin   time.Time
	ended   time.Time
	stop    chan struct{}
	wg      sync.WaitGroup

	bidLat, accLat, fanout, priceFan, bidderFan, chatLat hist
	bidsSent, bidResults, bidsAccepted, bidErrors        atomic.Int64
	chatSent, chatRefused, chatDeliveries, joinFailed    atomic.Int64

	mu       sync.Mutex
	refused  map[string]int64
	chatErrs map[string]int64
	accepts  []acceptRec
	errs     []string

	prev liveTotals
}

// liveTotals are the counters a progress line differences.
type liveTotals struct {
	bids, accepted, chats int64
	bid, price, chat      histSnap
}

func newLiveRun(p Params) *liveRun {
	return &liveRun{p: p, log: p.Logger.With("component", "loadtest.live"), hc: &http.Client{Timeout: 30 * time.Second},
		stop: make(chan struct{}), refused: map[string]int64{}, chatErrs: map[string]int64{}}
}

func (l *liveRun) noteErr(format string, a ...any) {
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, fmt.Sprintf(format, a...))
	}
	l.mu.Unlock()
}

func (l *liveRun) mint(subject, name string, grants ...string) (string, error) {
	if l.p.Mint == nil {
		return "", fmt.Errorf("%w: the live scenario needs a token minter (the auth secret: --data-dir or --auth-secret)", ErrBadParams)
	}
	return l.p.Mint(MintRequest{Room: l.p.Room, Subject: subject, Name: name, Grants: grants})
}

// setup mints tokens, connects and joins every socket, and creates and starts the lot.
func (l *liveRun) setup(ctx context.Context) error {
	p := l.p
	var err error
	if p.Bidders > 0 { // the seller creates and starts the lot
		if err := l.setupSeller(ctx); err != nil {
			return err
		}
	}
	type spec struct {
		role, subject, name string
		grants              []string
	}
	var specs []spec
	for i := range p.LiveViewers {
		specs = append(specs, spec{role: "viewer", name: fmt.Sprintf("viewer %d", i)})
	}
	for i := range p.Bidders {
		specs = append(specs, spec{"bidder", fmt.Sprintf("lt-bidder-%d", i), fmt.Sprintf("Bidder %d", i), []string{"bid"}})
	}
	for i := range p.Chatters {
		specs = append(specs, spec{"chatter", fmt.Sprintf("lt-chatter-%d", i), fmt.Sprintf("Chatter %d", i), []string{"chat"}})
	}
	for i := range p.Stalled {
		specs = append(specs, spec{role: "stalled", name: fmt.Sprintf("stalled %d", i)})
	}
	l.socks = make([]*liveSock, len(specs))
	sem := make(chan struct{}, p.MaxInFlight)
	var wg sync.WaitGroup
	for i, sp := range specs {
		tok := ""
		if sp.grants != nil {
			if tok, err = l.mint(sp.subject, sp.name, sp.grants...); err != nil {
				wg.Wait()
				return err
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func(i int, sp spec, tok string) {
			defer wg.Done()
			defer func() { <-sem }()
			ls := &liveSock{role: sp.role, idx: i, subject: sp.subject}
			jctx, cancel := context.WithTimeout(ctx, p.JoinTimeout)
			defer cancel()
			name := ""
			if tok == "" {
				name = sp.name
			}
			if _, err := l.dial(jctx, ls, tok, name); err != nil {
				l.joinFailed.Add(1)
				l.noteErr("%s %d: %v", sp.role, i, err)
				return
			}
			if _, err := ls.s.Join(jctx, p.Room, 0); err != nil {
				l.joinFailed.Add(1)
				l.noteErr("%s %d join: %v", sp.role, i, err)
				_ = ls.s.Close()
				return
			}
			l.socks[i] = ls
		}(i, sp, tok)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if seller := l.seller; seller != nil {
		lot, err := seller.s.LotCreate(ctx, client.LotInput{Title: "loadtest lot", Description: "relaycast loadtest", StartPrice: 100,
			DurationS: int(p.LotDuration.Seconds()), Mode: "standard"})
		if err != nil {
			return fmt.Errorf("lot_create: %w", err)
		}
		if lot, err = seller.s.LotStart(ctx, lot.ID); err != nil {
			return fmt.Errorf("lot_start: %w", err)
		}
		l.setLot(lot)
		for _, s := range l.socks {
			if s != nil && s.role == "bidder" {
				raise(&s.min, lot.MinAmount)
				raise(&s.price, lot.Price)
			}
		}
	}
	for _, s := range l.socks {
		if s != nil && s.role == "stalled" {
			s.s.Pause()
		}
	}
	return nil
}

func (l *liveRun) setupSeller(ctx context.Context) error {
	var err error
	if l.sellerTok = l.p.SellerToken; l.sellerTok == "" {
		if l.sellerTok, err = l.mint("loadtest-seller", "Loadtest seller", "publish"); err != nil {
			return err
		}
	}
	seller, err := l.dial(ctx, &liveSock{role: "seller"}, l.sellerTok, "")
	if err != nil {
		return fmt.Errorf("seller socket: %w", err)
	}
	l.seller = seller
	j, err := seller.s.Join(ctx, l.p.Room, 0)
	if err != nil {
		return fmt.Errorf("seller join: %w", err)
	}
	if j.Lot != nil && j.Lot.Status == "open" { // a lot left open by an earlier run
		if _, err := seller.s.LotEnd(ctx, j.Lot.ID); err != nil {
			return fmt.Errorf("ending the open lot %s: %w", j.Lot.ID, err)
		}
	}
	return nil
}

func (l *liveRun) setLot(lot client.Lot) { l.lotMu.Lock(); l.lot = lot; l.lotMu.Unlock() }
func (l *liveRun) getLot() client.Lot    { l.lotMu.Lock(); defer l.lotMu.Unlock(); return l.lot }

// raise stores v in a when it is larger (prices only rise).
func raise(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func (l *liveRun) dial(ctx context.Context, ls *liveSock, token, name string) (*liveSock, error) {
	lp := client.LiveParams{URL: l.p.URL, Token: token, Name: name}
	switch ls.role {
	case "viewer":
		lp.OnEvent = l.onViewerEvent(ls)
	case "bidder":
		lp.OnEvent = l.onBidderEvent(ls)
	case "stalled":
		lp.ReadBuffer = 4096
		lp.OnEvent = func(client.LiveEvent) {}
	case "chatter":
		lp.OnEvent = func(client.LiveEvent) {}
		lp.OnError = func(e *client.LiveError) {
			l.chatRefused.Add(1)
			l.mu.Lock()
			l.chatErrs[e.Code]++
			l.mu.Unlock()
		}
	default:
		lp.OnEvent = func(client.LiveEvent) {}
	}
	s, err := client.DialLive(ctx, lp)
	if err != nil {
		return nil, err
	}
	ls.s = s
	return ls, nil
}

// sinceAt is receive time − the event's server time (ms since the epoch).
func sinceAt(ev client.LiveEvent) time.Duration {
	return time.Duration(ev.Received.UnixMicro()-ev.At*1000) * time.Microsecond
}

func (l *liveRun) onViewerEvent(ls *liveSock) func(client.LiveEvent) {
	return func(ev client.LiveEvent) {
		d := sinceAt(ev)
		l.fanout.Record(d)
		switch ev.Kind {
		case "bid":
			ls.bidEvents.Add(1)
			l.priceFan.Record(d)
		case "chat":
			if sent := chatStamp(ev.Data); sent > 0 {
				l.chatDeliveries.Add(1)
				l.chatLat.Record(time.Duration(ev.Received.UnixNano() - sent))
			}
		}
	}
}

func (l *liveRun) onBidderEvent(ls *liveSock) func(client.LiveEvent) {
	return func(ev client.LiveEvent) {
		if ev.Kind != "bid" && ev.Kind != "lot" {
			return
		}
		l.bidderFan.Record(sinceAt(ev))
		lot := client.RawField(ev.Data, "lot")
		if lot == nil {
			lot = ev.Data
		}
		raise(&ls.min, client.RawInt(client.RawField(lot, "min_amount")))
		raise(&ls.price, client.RawInt(client.RawField(lot, "price")))
	}
}

// chatPrefix starts every harness chat message: "lt <send time, ns since the epoch> …".
const chatPrefix = "lt "

// chatStamp reads the send time out of a chat event's data (0: not a harness message).
func chatStamp(data []byte) int64 {
	t := client.RawString(client.RawField(data, "text"))
	if len(t) <= len(chatPrefix) || string(t[:len(chatPrefix)]) != chatPrefix {
		return 0
	}
	t = t[len(chatPrefix):]
	var n int64
	for _, c := range t {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// start begins the measured window: bidders and chatters start.
func (l *liveRun) start() {
	l.begin = time.Now()
	l.cpu0, _, _ = readProc("/proc", os.Getpid())
	l.running.Store(true)
	var bidders, chatters []*liveSock
	for _, s := range l.socks {
		switch {
		case s == nil:
		case s.role == "bidder":
			bidders = append(bidders, s)
		case s.role == "chatter":
			chatters = append(chatters, s)
		}
	}
	if len(bidders) > 0 && l.p.BidRate > 0 {
		every := time.Duration(float64(len(bidders)) / l.p.BidRate * float64(time.Second))
		for _, b := range bidders {
			l.wg.Add(1)
			go l.bidLoop(b, every)
		}
	}
	if len(chatters) > 0 && l.p.ChatRate > 0 {
		every := time.Duration(float64(len(chatters)) / l.p.ChatRate * float64(time.Second))
		for _, c := range chatters {
			l.wg.Add(1)
			go l.chatLoop(c, every)
		}
	}
}

// pace waits until next (or stop: false) and returns the time after it, never letting a late
// sender burst to catch up by more than one.
func (l *liveRun) pace(next time.Time, every time.Duration) (time.Time, bool) {
	if d := time.Until(next); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-l.stop:
			t.Stop()
			return next, false
		case <-t.C:
		}
	}
	select {
	case <-l.stop:
		return next, false
	default:
	}
	next = next.Add(every)
	if now := time.Now(); next.Before(now) {
		next = now
	}
	return next, true
}

func (l *liveRun) bidLoop(b *liveSock, every time.Duration) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(b.idx), uint64(time.Now().UnixNano())))
	next := l.begin.Add(time.Duration(rng.Int64N(int64(every) + 1)))
	lotID := l.getLot().ID
	for {
		var ok bool
		if next, ok = l.pace(next, every); !ok {
			return
		}
		amount := b.min.Load()
		if rng.IntN(10) == 0 { // one bid in ten jumps one increment more
			amount += max(amount-b.price.Load(), 1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l.bidsSent.Add(1)
		res, err := b.s.Bid(ctx, lotID, amount, 0)
		cancel()
		if err != nil {
			l.bidErrors.Add(1)
			l.noteErr("bid: %v", err)
			if errors.Is(err, client.ErrWSClosed) {
				return
			}
			continue
		}
		l.bidResults.Add(1)
		l.bidLat.Record(res.RTT)
		if res.Accepted {
			l.bidsAccepted.Add(1)
			l.accLat.Record(res.RTT)
			l.mu.Lock()
			l.accepts = append(l.accepts, acceptRec{N: res.Bid.N, Subject: b.subject, Amount: amount})
			l.mu.Unlock()
			raise(&b.min, res.Lot.MinAmount)
			raise(&b.price, res.Lot.Price)
			continue
		}
		l.mu.Lock()
		l.refused[res.Code]++
		l.mu.Unlock()
		raise(&b.min, res.MinAmount)
		raise(&b.min, res.Lot.MinAmount)
		raise(&b.price, res.Lot.Price)
	}
}

func (l *liveRun) chatLoop(c *liveSock, every time.Duration) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(c.idx), uint64(time.Now().UnixNano())))
	next := l.begin.Add(time.Duration(rng.Int64N(int64(every) + 1)))
	buf := make([]byte, 0, 64)
	for n := 0; ; n++ {
		var ok bool
		if next, ok = l.pace(next, every); !ok {
			return
		}
		buf = append(buf[:0], chatPrefix...)
		buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
		buf = append(buf, " from chatter "...)
		buf = strconv.AppendInt(buf, int64(c.idx), 10)
		buf = append(buf, " #"...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		l.chatSent.Add(1)
		if _, err := c.s.Chat(string(buf)); err != nil {
			l.noteErr("chat: %v", err)
			return
		}
	}
}

// halt ends the measured window: no new bids or chat; answers in flight are awaited.
func (l *liveRun) halt() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	l.wg.Wait()
	l.ended = time.Now()
	if cpu, _, err := readProc("/proc", os.Getpid()); err == nil && l.cpu0 > 0 && !l.begin.IsZero() {
		l.genCPU = round3((cpu - l.cpu0) / l.ended.Sub(l.begin).Seconds())
	}
}

func (l *liveRun) totals() liveTotals {
	return liveTotals{bids: l.bidResults.Load(), accepted: l.bidsAccepted.Load(), chats: l.chatDeliveries.Load(),
		bid: l.accLat.snapshot(), price: l.priceFan.snapshot(), chat: l.chatLat.snapshot()}
}

// sample fills the live fields of one timeline sample and returns the progress text.
func (l *liveRun) sample(s *Sample, dt float64) string {
	t := l.totals()
	pv := l.prev
	l.prev = t
	if dt <= 0 {
		return ""
	}
	s.BidsPerS = round3(float64(t.bids-pv.bids) / dt)
	s.AcceptedPerS = round3(float64(t.accepted-pv.accepted) / dt)
	s.ChatDeliveriesPerS = round3(float64(t.chats-pv.chats) / dt)
	bd, pd, cd := t.bid.sub(pv.bid).dist(), t.price.sub(pv.price).dist(), t.chat.sub(pv.chat).dist()
	s.BidP95, s.PriceFanoutP95, s.ChatP95 = bd.P95, pd.P95, cd.P95
	var gaps, dups int64
	for _, ls := range l.socks {
		if ls != nil && ls.role != "stalled" {
			st := ls.s.Stats()
			gaps += st.Gaps
			dups += st.Dups
		}
	}
	line := ""
	if l.p.Bidders > 0 {
		line += fmt.Sprintf(" | bids %.0f/s (accepted %.0f/s) accept p95 %.1f ms price fan-out p95 %.1f ms", s.BidsPerS, s.AcceptedPerS, bd.P95, pd.P95)
	}
	if l.p.Chatters > 0 {
		line += fmt.Sprintf(" | chat deliveries %.0f/s p95 %.1f ms", s.ChatDeliveriesPerS, cd.P95)
	}
	return line + fmt.Sprintf(" | gaps %d dups %d", gaps, dups)
}

// finish ends the lot, reads its bid log, drains the stalled sockets and summarises.
func (l *liveRun) finish(ctx context.Context) *LiveSummary {
	p := l.p
	ls := &LiveSummary{Room: p.Room, Bidders: p.Bidders, Chatters: p.Chatters, Viewers: p.LiveViewers, Stalled: p.Stalled,
		Target: p.Bidders + p.Chatters + p.LiveViewers + p.Stalled, JoinFailed: l.joinFailed.Load(),
		BidRateTarget: p.BidRate, ChatRateTarget: p.ChatRate,
		ClockNote: "fan-out latency = socket receive time − the event's server `at` (Redis TIME, ms); harness, server and Redis share this box's clock, and `at` is truncated to the ms (+0.5 ms on average)"}
	if l.ended.IsZero() {
		l.ended = time.Now()
	}
	if !l.begin.IsZero() {
		ls.RunSeconds = round3(l.ended.Sub(l.begin).Seconds())
	}
	time.Sleep(time.Second) // events still on their way to the sockets
	if lot := l.getLot(); lot.ID != "" && l.seller != nil {
		ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
		final, err := l.seller.s.LotEnd(ectx, lot.ID)
		cancel()
		if err != nil {
			ls.Notes = append(ls.Notes, fmt.Sprintf("lot_end: %v", err))
		} else {
			ls.Lot = &final
		}
		time.Sleep(500 * time.Millisecond) // the lot's end event
		log, err := l.bidLog(ctx, lot.ID)
		if err != nil {
			ls.Notes = append(ls.Notes, fmt.Sprintf("bid log: %v", err))
		} else {
			final := lot
			if ls.Lot != nil {
				final = *ls.Lot
			}
			if len(final.Increments) == 0 {
				final.Increments = lot.Increments
			}
			l.mu.Lock()
			c := checkLog(final, log, l.accepts)
			l.mu.Unlock()
			ls.Log = &c
		}
	}
	ls.GeneratorCores = l.genCPU
	ls.BidsSent, ls.BidResults, ls.BidsAccepted, ls.BidErrors = l.bidsSent.Load(), l.bidResults.Load(), l.bidsAccepted.Load(), l.bidErrors.Load()
	ls.ChatSent, ls.ChatRefused, ls.ChatDeliveries = l.chatSent.Load(), l.chatRefused.Load(), l.chatDeliveries.Load()
	if ls.RunSeconds > 0 {
		ls.BidsPerS = round3(float64(ls.BidResults) / ls.RunSeconds)
		ls.AcceptedPerS = round3(float64(ls.BidsAccepted) / ls.RunSeconds)
		ls.ChatPerS = round3(float64(ls.ChatSent) / ls.RunSeconds)
	}
	ls.BidLatency, ls.AcceptedLatency = l.bidLat.snapshot().dist(), l.accLat.snapshot().dist()
	ls.Fanout, ls.PriceFanout, ls.BidderFanout = l.fanout.snapshot().dist(), l.priceFan.snapshot().dist(), l.bidderFan.snapshot().dist()
	ls.ChatDelivery = l.chatLat.snapshot().dist()
	l.mu.Lock()
	ls.Refused, ls.ChatErrors, ls.FirstErrors = copyMap(l.refused), copyMap(l.chatErrs), append([]string(nil), l.errs...)
	l.mu.Unlock()
	ls.CloseReasons = map[string]int64{}
	for _, s := range l.socks {
		if s == nil {
			continue
		}
		ls.Joined++
		st := s.s.Stats()
		if s.role == "stalled" {
			continue
		}
		ls.Events += st.Events
		ls.Gaps += st.Gaps
		ls.Dups += st.Dups
		if st.Gaps > 0 {
			ls.SocketsWithGaps++
		}
		if st.Dups > 0 {
			ls.SocketsWithDups++
		}
		if st.Closed {
			ls.SocketsClosed++
			ls.CloseReasons[fmt.Sprintf("%d %s", st.CloseCode, st.CloseReason)]++
		}
		if s.role == "viewer" && st.Gaps == 0 && ls.Log != nil && ls.Log.BidEvents < 0 {
			ls.Log.BidEvents = s.bidEvents.Load()
			ls.Log.EventsMatch = ls.Log.BidEvents == int64(ls.Log.Accepted)
		}
	}
	ls.StalledSockets = l.drainStalled()
	return ls
}

// drainStalled lets the stalled sockets read again and reports how the server treated them.
func (l *liveRun) drainStalled() []StalledSocket {
	var out []StalledSocket
	var stalled []*liveSock
	for _, s := range l.socks {
		if s != nil && s.role == "stalled" {
			stalled = append(stalled, s)
			s.s.Resume()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range stalled {
		select {
		case <-s.s.Done():
		case <-ctx.Done():
		}
	}
	for _, s := range stalled {
		st := s.s.Stats()
		out = append(out, StalledSocket{Events: st.Events, Messages: st.Messages, Bytes: st.Bytes, LostEvents: st.Gaps,
			Closed: st.Closed, CloseCode: st.CloseCode, CloseReason: st.CloseReason})
	}
	return out
}

// bidLog reads GET /api/rooms/{room}/lots/{id}/bids (a JSON array, or an object with "bids").
func (l *liveRun) bidLog(ctx context.Context, id string) ([]client.Bid, error) {
	u := strings.TrimRight(l.p.URL, "/") + "/api/rooms/" + url.PathEscape(l.p.Room) + "/lots/" + url.PathEscape(id) + "/bids"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.sellerTok)
	resp, err := l.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return nil, err
	}
	var bids []client.Bid
	if err := json.Unmarshal(raw, &bids); err == nil {
		return bids, nil
	}
	var obj struct {
		Bids []client.Bid `json:"bids"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("bid log: %w", err)
	}
	return obj.Bids, nil
}

// close closes every socket (in parallel: each waits for its reader).
func (l *liveRun) close() {
	l.halt()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	all := append([]*liveSock{l.seller}, l.socks...)
	for _, s := range all {
		if s == nil || s.s == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = s.s.Close()
		}()
	}
	wg.Wait()
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
