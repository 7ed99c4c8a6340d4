package loadtest

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/client"
)

// --- video viewers with churn ---

// soakViewers keeps sp.Viewers lean WHEP viewers; every ChurnEvery the next churnCount of them
// (churnSchedule: a rotating window, so every viewer churns in turn) leave (WHEP DELETE, peer
// closed) and a new viewer takes each place.
type soakViewers struct {
	sp   SoakParams
	pool *synthPool // its http client, latency histogram and closeViewer

	mu      sync.Mutex
	slots   []*synthViewer
	retired soakVideoTotals // counters of the viewers that left
	errs    []string

	joins, failures, leaves atomic.Int64
	wg                      sync.WaitGroup
}

type soakVideoTotals struct {
	connected                int
	joins, failures, leaves  int64
	packets, lost            int64
	disconnectedWhileWatched int64
}

func newSoakViewers(sp SoakParams) *soakViewers {
	return &soakViewers{sp: sp, pool: newSynthPool(sp.Base), slots: make([]*synthViewer, sp.Viewers)}
}

// churnCount is how many of n viewers leave each round at pct percent (at least one when
// pct > 0 and n > 0).
func churnCount(n int, pct float64) int {
	if n <= 0 || pct <= 0 {
		return 0
	}
	return min(n, max(1, int(math.Round(float64(n)*pct/100))))
}

// churnSchedule is the slots that leave and rejoin in round r (0, 1, …): k consecutive slots
// starting at r·k, wrapping, so over ⌈n/k⌉ rounds every slot churns once.
func churnSchedule(n, k, r int) []int {
	if n <= 0 || k <= 0 {
		return nil
	}
	k = min(k, n)
	out := make([]int, k)
	for j := range k {
		out[j] = (r*k + j) % n
	}
	return out
}

func (v *soakViewers) run(ctx context.Context) {
	n := len(v.slots)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	v.rejoin(ctx, idx) // the ramp
	k := churnCount(n, v.sp.ChurnPct)
	t := time.NewTicker(v.sp.ChurnEvery)
	defer t.Stop()
	for r := 0; ; r++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v.rejoin(ctx, churnSchedule(n, k, r))
	}
}

// rejoin closes the viewers of these slots (if any) and joins a new one in each, at most
// MaxInFlight at once; it returns when all are in or failed.
func (v *soakViewers) rejoin(ctx context.Context, slots []int) {
	sem := make(chan struct{}, v.sp.Base.MaxInFlight)
	var wg sync.WaitGroup
	for _, i := range slots {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v.leave(i)
			if ctx.Err() != nil {
				return
			}
			sv, err := v.join(ctx)
			if err != nil {
				v.failures.Add(1)
				v.mu.Lock()
				if len(v.errs) < 10 {
					v.errs = append(v.errs, err.Error())
				}
				v.mu.Unlock()
				return
			}
			v.joins.Add(1)
			v.mu.Lock()
			v.slots[i] = sv
			v.mu.Unlock()
		}()
	}
	wg.Wait()
}

func (v *soakViewers) leave(i int) {
	v.mu.Lock()
	sv := v.slots[i]
	v.slots[i] = nil
	if sv != nil {
		st := sv.v.Stats()
		v.retired.packets += st.Packets
		v.retired.lost += st.Lost
		select {
		case <-sv.v.Disconnected():
			v.retired.disconnectedWhileWatched++
		default:
		}
	}
	v.mu.Unlock()
	if sv != nil {
		v.leaves.Add(1)
		v.pool.closeViewer(sv)
	}
}

func (v *soakViewers) join(ctx context.Context) (*synthViewer, error) {
	p := v.sp.Base
	cv, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, OnLatency: v.pool.latency.Record, Lean: true})
	if err != nil {
		return nil, err
	}
	sv := &synthViewer{v: cv}
	jctx, cancel := context.WithTimeout(ctx, p.JoinTimeout)
	defer cancel()
	ex := client.WHIP(v.pool.hc, p.URL+"/whep/"+p.Room, p.ViewerToken, &sv.loc)
	if err := cv.Connect(jctx, ex); err != nil {
		v.pool.closeViewer(sv)
		return nil, err
	}
	return sv, nil
}

func (v *soakViewers) totals() soakVideoTotals {
	v.mu.Lock()
	t := v.retired
	live := append([]*synthViewer(nil), v.slots...)
	v.mu.Unlock()
	for _, sv := range live {
		if sv == nil {
			continue
		}
		st := sv.v.Stats()
		t.packets += st.Packets
		t.lost += st.Lost
		select {
		case <-sv.v.Disconnected():
			t.disconnectedWhileWatched++
		default:
			t.connected++
		}
	}
	t.joins, t.failures, t.leaves = v.joins.Load(), v.failures.Load(), v.leaves.Load()
	return t
}

func (v *soakViewers) errors() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.errs...)
}

// close ends every viewer (the run's ctx is done).
func (v *soakViewers) close() {
	idx := make([]int, len(v.slots))
	for i := range idx {
		idx[i] = i
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, i := range idx {
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer wg.Done(); defer func() { <-sem }(); v.leave(i) }()
	}
	wg.Wait()
}

// --- lots ---

// soakLots opens a lot every LotEvery: a seller socket creates and starts it, LotBidders
// bidder sockets join and bid at LotBidRate in total until the seller ends it (LotEvery − 15 s
// after it started), then its bid log is checked against the accepted bid_results (LogCheck)
// and every socket leaves.
type soakLots struct {
	sp SoakParams
	mu sync.Mutex
	rs []SoakLot
	// the lot running now (its counters count in the totals while it runs)
	cur *liveRun
}

// SoakLot is one lot of the soak.
type SoakLot struct {
	Index        int       `json:"index"`
	Started      time.Time `json:"started"`
	ID           string    `json:"id,omitempty"`
	Bidders      int       `json:"bidders"`
	JoinFailed   int64     `json:"join_failed"`
	BidsSent     int64     `json:"bids_sent"`
	BidsAccepted int64     `json:"bids_accepted"`
	BidErrors    int64     `json:"bid_errors"`
	Status       string    `json:"status,omitempty"` // the ended lot's
	Winner       string    `json:"winner,omitempty"`
	Price        int64     `json:"price,omitempty"`
	Log          *LogCheck `json:"log,omitempty"`
	Error        string    `json:"error,omitempty"`
}

func newSoakLots(sp SoakParams) *soakLots { return &soakLots{sp: sp} }

func (l *soakLots) run(ctx context.Context) {
	if l.sp.LotBidders <= 0 {
		return
	}
	for i := 0; ctx.Err() == nil; i++ {
		next := time.Now().Add(l.sp.LotEvery)
		l.one(ctx, i)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
	}
}

func (l *soakLots) one(ctx context.Context, i int) {
	sp := l.sp
	bid := sp.LotEvery - 15*time.Second
	p := withLive(sp.Base, sp.LotBidders, 0, 0, 0, sp.LotBidRate)
	p.LotDuration = bid + 30*time.Second // the seller ends it first
	lr := newLiveRun(p)
	res := SoakLot{Index: i, Started: time.Now().UTC(), Bidders: sp.LotBidders}
	defer lr.close()
	// setup and the bid log get a context of their own: a lot that started finishes its check
	// after the load stops
	sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	err := lr.setup(sctx)
	cancel()
	res.JoinFailed = lr.joinFailed.Load()
	if err != nil {
		res.Error = err.Error()
		l.add(res)
		return
	}
	res.ID = lr.getLot().ID
	lr.start()
	l.mu.Lock()
	l.cur = lr
	l.mu.Unlock()
	t := time.NewTimer(bid)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	lr.halt()
	fctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	ls := lr.finish(fctx)
	cancel()
	res.BidsSent, res.BidsAccepted, res.BidErrors = ls.BidsSent, ls.BidsAccepted, ls.BidErrors
	if ls.Lot != nil {
		res.Status, res.Winner, res.Price = ls.Lot.Status, ls.Lot.Winner, ls.Lot.Price
	}
	res.Log = ls.Log
	if len(ls.Notes) > 0 {
		res.Error = strings.Join(ls.Notes, "; ")
	}
	l.mu.Lock()
	l.cur = nil
	l.mu.Unlock()
	l.add(res)
}

func (l *soakLots) add(r SoakLot) {
	l.mu.Lock()
	l.rs = append(l.rs, r)
	l.mu.Unlock()
}

func (l *soakLots) results() []SoakLot {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]SoakLot(nil), l.rs...)
}

type soakLotTotals struct {
	lots                               int
	sent, accepted, errors, joinFailed int64
	lost, double, failed               int
}

func (l *soakLots) totals() soakLotTotals {
	l.mu.Lock()
	defer l.mu.Unlock()
	var t soakLotTotals
	for _, r := range l.rs {
		t.lots++
		t.sent += r.BidsSent
		t.accepted += r.BidsAccepted
		t.errors += r.BidErrors
		t.joinFailed += r.JoinFailed
		if r.Log != nil {
			t.lost += r.Log.Lost
			t.double += r.Log.DoubleAccepted
		}
		if r.Error != "" || r.Log == nil || !r.Log.FinalMatches {
			t.failed++
		}
	}
	if c := l.cur; c != nil {
		t.sent += c.bidsSent.Load()
		t.accepted += c.bidsAccepted.Load()
		t.errors += c.bidErrors.Load()
		t.joinFailed += c.joinFailed.Load()
	}
	return t
}

// --- /proc ---

type procSoak struct {
	cpu, rss, fds, threads, sockets float64
	inodes                          map[string]bool // the socket inodes of the fds
}

// readProcSoak reads CPU seconds (utime+stime), VmRSS, open fds and threads of pid under root.
func readProcSoak(root string, pid int) (procSoak, error) {
	var out procSoak
	var err error
	if out.cpu, out.rss, err = readProc(root, pid); err != nil {
		return out, err
	}
	dir := fmt.Sprintf("%s/%d", root, pid)
	if ents, err := os.ReadDir(dir + "/fd"); err == nil {
		out.fds = float64(len(ents))
		for _, e := range ents {
			if l, err := os.Readlink(dir + "/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
				out.sockets++
				if out.inodes == nil {
					out.inodes = map[string]bool{}
				}
				out.inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	if b, err := os.ReadFile(dir + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Threads:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				out.threads = float64(n)
			}
		}
	}
	return out, nil
}

// loadAvg1 is the box's 1-minute load average (0 when unreadable).
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// acceptedSockets counts the TCP connections among inodes (a process's socket inodes) whose
// local port is port: the connections a server accepted on it (its listener included).
func acceptedSockets(root string, pid, port int, inodes map[string]bool) float64 {
	if port <= 0 || len(inodes) == 0 {
		return 0
	}
	var n float64
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/net/%s", root, pid, f))
		if err != nil {
			continue
		}
		n += countAccepted(string(b), port, inodes)
	}
	return n
}

// countAccepted reads a /proc/net/tcp table: the rows whose local port is port and whose
// inode (the 10th field) is one of inodes.
func countAccepted(table string, port int, inodes map[string]bool) float64 {
	var n float64
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[0] == "sl" {
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		p, err := strconv.ParseInt(f[1][i+1:], 16, 32)
		if err == nil && int(p) == port && inodes[f[9]] {
			n++
		}
	}
	return n
}
