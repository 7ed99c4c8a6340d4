//go:build chaos

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/loadtest"
)

// The show's clients. Each one reconnects as a page does: when its socket to a node breaks
// (the node died) it goes to the next node, round robin, as a balancer would send it.

// hookSink is the shop's webhook receiver: every delivery, by type.
type hookSink struct {
	mu   sync.Mutex
	hits []hookHit
}

type hookHit struct {
	Type, Key, LotID, Winner string
	At                       time.Time
}

func startHookSink(t *testing.T, port int) *hookSink {
	t.Helper()
	h := &hookSink{}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var body struct {
			Type string `json:"type"`
			Data struct {
				ID     string `json:"id"`
				Winner string `json:"winner"`
			} `json:"data"`
		}
		_ = json.Unmarshal(b, &body)
		h.mu.Lock()
		h.hits = append(h.hits, hookHit{Type: r.Header.Get("X-Relaycast-Event"), Key: r.Header.Get("Idempotency-Key"), LotID: body.Data.ID, Winner: body.Data.Winner, At: time.Now()})
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

// lotWon counts the lot.won deliveries of a lot: deliveries, distinct idempotency keys and
// distinct winners.
func (h *hookSink) lotWon(lot string) (deliveries, keys, winners int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k, w := map[string]bool{}, map[string]bool{}
	for _, x := range h.hits {
		if x.Type == "lot.won" && x.LotID == lot {
			deliveries++
			k[x.Key], w[x.Winner] = true, true
		}
	}
	return deliveries, len(k), len(w)
}

// seller publishes the room's clip over /ws and publishes again on the next node when its
// socket breaks (the broadcast page's behaviour).
type seller struct {
	c     *chaosCluster
	room  string
	token string
	video string
	audio string
	mu    sync.Mutex
	parts []sendPart
}

type sendPart struct {
	Node     string
	From, To time.Time
}

func (s *seller) run(ctx context.Context, start int, live chan<- struct{}) {
	once := sync.Once{}
	for i := start; ctx.Err() == nil; i++ {
		n := s.c.nodes[i%len(s.c.nodes)]
		if s.session(ctx, n, func() { once.Do(func() { close(live) }) }) {
			continue
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// session publishes on n until its socket breaks or ctx ends; false: it never went live.
func (s *seller) session(ctx context.Context, n *chaosNode, live func()) bool {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	ws, err := client.DialWS(dctx, n.url)
	cancel()
	if err != nil {
		return false
	}
	defer ws.Close()
	pub, err := client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: s.video, Audio: s.audio})
	if err != nil {
		return false
	}
	defer pub.Close()
	cctx, cancel := context.WithTimeout(ctx, 12*time.Second)
	err = pub.Connect(cctx, ws.Publish(s.room, s.token))
	cancel()
	if err != nil {
		return false
	}
	from := time.Now()
	live()
	select {
	case <-ws.Done():
	case <-pub.Done():
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.parts = append(s.parts, sendPart{Node: n.id, From: from, To: time.Now()})
	s.mu.Unlock()
	return true
}

func (s *seller) sent() (secs float64, parts []sendPart) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.parts {
		secs += p.To.Sub(p.From).Seconds()
	}
	return secs, append([]sendPart(nil), s.parts...)
}

// watcher is a viewer (a Pion peer over /ws `watch`): it notes when its video stopped and when
// it came back after it reconnected.
type watcher struct {
	c    *chaosCluster
	room string
	mu   sync.Mutex
	// outages: video stopped at From (its last packet) and played again at To.
	outages []outage
	down    bool
	last    time.Time
	nodes   []string
}

type outage struct {
	From, To time.Time
	Reason   string // "socket closed" or "no video"
	Node     string // the node the viewer was on
}

// stall: no video packet for this long counts as the stream lost (30 fps video: many packets
// every 33 ms); the viewer then connects again.
const stall = time.Second

func (w *watcher) run(ctx context.Context, start int) {
	for i := start; ctx.Err() == nil; i++ {
		if !w.session(ctx, w.c.nodes[i%len(w.c.nodes)]) {
			sleepCtx(ctx, 250*time.Millisecond)
		}
	}
}

func (w *watcher) session(ctx context.Context, n *chaosNode) bool {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	ws, err := client.DialWS(dctx, n.url)
	cancel()
	if err != nil {
		return false
	}
	defer ws.Close()
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		return false
	}
	defer v.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = v.Connect(cctx, ws.Watch(w.room, ""))
	cancel()
	if err != nil {
		return false
	}
	w.mu.Lock()
	w.nodes = append(w.nodes, n.id)
	w.mu.Unlock()
	var prev int64
	began := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-ws.Done():
			w.lost("socket closed", n.id)
			return true
		case now := <-tick.C:
			p := v.Stats().VideoPackets
			w.mu.Lock()
			if p > prev {
				prev = p
				if w.down {
					w.outages[len(w.outages)-1].To = now
					w.down = false
				}
				w.last = now
			}
			quiet := now.Sub(w.last) > stall && now.Sub(began) > stall
			w.mu.Unlock()
			if quiet {
				w.lost("no video", n.id)
				return true
			}
		}
	}
}

func (w *watcher) lost(reason, node string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.down && !w.last.IsZero() {
		w.down = true
		w.outages = append(w.outages, outage{From: w.last, Reason: reason, Node: node})
	}
}

// recovered: how long after t the viewer played again, for an outage that began within 1.5 s
// before t or any time after it (0, true: no outage; -1, false: it never came back).
func (w *watcher) recovered(t time.Time) (float64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	worst := 0.0
	for _, o := range w.outages {
		if o.From.Before(t.Add(-1500 * time.Millisecond)) {
			continue
		}
		if o.To.IsZero() {
			return -1, false
		}
		worst = max(worst, o.To.Sub(t).Seconds())
	}
	return worst, true
}

// liveClient is a chatter or a bidder: a /ws socket of the live room that resumes after a
// broken socket on the next node, joining with the last seq it applied.
type liveClient struct {
	c     *chaosCluster
	room  string
	token string
	name  string
	mu    sync.Mutex
	sess  *client.LiveSession
	// got: chat events received, by seq → text; firstSeq: the seq of the first join's snapshot.
	got      map[int64]string
	firstSeq int64
	lastSeq  int64
	dupSeqs  int64
	resumes  int
	refused  map[string]string // "session/ref" → error code
	node     int
	sessN    int // sessions opened
}

func newLiveClient(c *chaosCluster, room, token, name string, node int) *liveClient {
	return &liveClient{c: c, room: room, token: token, name: name, node: node, got: map[int64]string{}, refused: map[string]string{}, firstSeq: -1}
}

// connect (re)opens the socket on the next node that answers and joins.
func (l *liveClient) connect(ctx context.Context) *client.LiveSession {
	for ctx.Err() == nil {
		n := l.c.nodes[l.node%len(l.c.nodes)]
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		l.mu.Lock()
		l.sessN++
		sessN := l.sessN
		l.mu.Unlock()
		onError := func(e *client.LiveError) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if e.Ref != "" {
				l.refused[fmt.Sprintf("%d/%s", sessN, e.Ref)] = e.Code
			}
		}
		s, err := client.DialLive(dctx, client.LiveParams{URL: n.url, Token: l.token, OnEvent: l.onEvent, OnError: onError})
		if err == nil {
			l.mu.Lock()
			after := l.lastSeq
			l.mu.Unlock()
			var j *client.Joined
			if j, err = s.Join(dctx, l.room, after); err == nil {
				l.mu.Lock()
				if l.firstSeq < 0 {
					l.firstSeq, l.lastSeq = j.Seq, j.Seq
				} else {
					l.resumes++
					if after > 0 && j.Seq > l.lastSeq && len(j.Events) == 0 {
						l.lastSeq = j.Seq // a snapshot, not a resume
					}
				}
				l.sess = s
				l.mu.Unlock()
				cancel()
				return s
			}
			_ = s.Close()
		}
		cancel()
		l.node++
		sleepCtx(ctx, 250*time.Millisecond)
	}
	return nil
}

func (l *liveClient) onEvent(ev client.LiveEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ev.Seq <= l.lastSeq && l.firstSeq >= 0 {
		l.dupSeqs++
		return
	}
	l.lastSeq = ev.Seq
	if ev.Kind == "chat" {
		var m struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(ev.Data, &m)
		l.got[ev.Seq] = m.Text
	}
}

// chatter sends numbered messages, one a second (under the 3 in 2 s limit).
type chatter struct {
	*liveClient
	sent map[string]string // ref → text (ref per session: prefixed with the session number)
	n    int
}

func (ch *chatter) run(ctx context.Context) {
	sess := 0
	for ctx.Err() == nil {
		s := ch.connect(ctx)
		if s == nil {
			return
		}
		ch.mu.Lock()
		sess = ch.sessN
		ch.mu.Unlock()
		for ctx.Err() == nil {
			text := fmt.Sprintf("%s-%d", ch.name, ch.n)
			ref, err := s.Chat(text)
			if err != nil {
				break
			}
			ch.mu.Lock()
			ch.sent[fmt.Sprintf("%d/%s", sess, ref)] = text
			ch.n++
			ch.mu.Unlock()
			select {
			case <-s.Done():
			case <-ctx.Done():
			case <-time.After(time.Second):
				continue
			}
			break
		}
		_ = s.Close()
		ch.node++
	}
}

// bidder bids the next valid amount every 0.6-0.9 s until the lot closes, and keeps every
// bid_result that said accepted.
type bidder struct {
	*liveClient
	lot      string
	accepted []loadtest.AcceptedBid
	errors   int
}

func (b *bidder) run(ctx context.Context, start int64) {
	next := start
	for ctx.Err() == nil {
		s := b.connect(ctx)
		if s == nil {
			return
		}
		for ctx.Err() == nil {
			bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			res, err := s.Bid(bctx, b.lot, next, 0)
			cancel()
			if err != nil {
				b.mu.Lock()
				b.errors++
				b.mu.Unlock()
				select {
				case <-s.Done():
				default:
					sleepCtx(ctx, 300*time.Millisecond)
					continue
				}
				break
			}
			switch {
			case res.Accepted:
				b.mu.Lock()
				b.accepted = append(b.accepted, loadtest.AcceptedBid{N: res.Bid.N, Subject: res.Bid.Subject, Amount: res.Bid.Amount})
				b.mu.Unlock()
				next = res.Lot.MinAmount
			case res.Code == "lot_closed":
				_ = s.Close()
				return
			case res.MinAmount > 0:
				next = res.MinAmount
			}
			sleepCtx(ctx, time.Duration(600+rand.IntN(300))*time.Millisecond)
		}
		_ = s.Close()
		b.node++
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// logKeys counts, in a JSON log, the lines with msg whose recording attribute is id, by the
// value of attr (e.g. "chunk transcoded" by "chunk").
func logKeys(log, msg, id, attr string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, msg) || !strings.Contains(line, id) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != msg || m["recording"] != id {
			continue
		}
		out[fmt.Sprint(m[attr])]++
	}
	return out
}
