//go:build chaos

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/loadtest"
)

// chaosKinds are the faults, in the order the trials cycle through them.
var chaosKinds = []string{"edge", "origin", "owner", "worker", "redis", "postgres", "s3"}

// chaosTrial is one row of the report.
type chaosTrial struct {
	N      int     `json:"n"`
	Kind   string  `json:"kind"`
	Room   string  `json:"room"`
	Killed string  `json:"killed"`
	FaultS float64 `json:"fault_at_s"` // seconds after the show went live
	// Recording: what the publisher sent (its parts) against the recording's duration.
	SentS       float64    `json:"sent_s"`
	RecordedS   float64    `json:"recorded_s"`
	LostS       float64    `json:"recorded_lost_s"`
	Parts       []sendPart `json:"publisher_parts"`
	Recordings  int        `json:"recordings"`
	RecStatus   string     `json:"recording_status"`
	ReadyAfterS float64    `json:"ready_after_s"` // after the show ended; -1 not ready in time
	// Auction.
	Bids             loadtest.LogCheck `json:"bids"`
	BidErrors        int               `json:"bid_errors"`
	LotStatus        string            `json:"lot_status"`
	FinalLotEvents   int               `json:"final_lot_events"`
	LotWonDeliveries int               `json:"lot_won_deliveries"`
	LotWonKeys       int               `json:"lot_won_keys"`
	LotWonWinners    int               `json:"lot_won_winners"`
	DoubleWinner     bool              `json:"double_winner"`
	// Chat.
	ChatSent        int  `json:"chat_sent"`
	ChatRefused     int  `json:"chat_refused"`
	ChatInLog       int  `json:"chat_in_log"`
	ChatLost        int  `json:"chat_lost"`        // seen by a socket, yet not in the room's log
	ChatUnconfirmed int  `json:"chat_unconfirmed"` // not refused, never seen, not in the log: in flight at the kill
	ChatDup         int  `json:"chat_dup"`         // a message twice in the log, or an event delivered twice
	ChatMissed      int  `json:"chat_missed"`      // log events a socket never got (after its resume)
	Resumes         int  `json:"resumes"`
	LogResumed      bool `json:"log_resumed"`
	// Transcode jobs.
	ChunkJobs int `json:"chunk_jobs"`
	JobsTwice int `json:"jobs_twice"`
	// Viewers: seconds from the fault until video played again (0: never stopped; -1: never back).
	EdgeViewerBackS   float64  `json:"edge_viewer_back_s"`
	OriginViewerBackS float64  `json:"origin_viewer_back_s"`
	ViewerNodes       []string `json:"viewer_nodes"`
	Outages           []outage `json:"viewer_outages,omitempty"`
	Notes             []string `json:"notes,omitempty"`
	LoadBefore        string   `json:"load_before"`
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestChaos runs CHAOS_TRIALS (default 21) trials of a show on a 3-node cluster, each with one
// fault (CHAOS_KINDS, default all seven, cycled), and writes the report to CHAOS_OUT (default
// docs/reports/chaos-2026-12-07). scripts/chaos.sh runs it.
func TestChaos(t *testing.T) {
	needFFmpeg(t)
	trials := envInt("CHAOS_TRIALS", 21)
	kinds := chaosKinds
	if k := os.Getenv("CHAOS_KINDS"); k != "" {
		kinds = strings.Split(k, ",")
	}
	show := time.Duration(envInt("CHAOS_SHOW_S", 45)) * time.Second
	out := os.Getenv("CHAOS_OUT")
	if out == "" {
		out = "../docs/reports/chaos-2026-12-07"
	}
	bin := filepath.Join(t.TempDir(), "relaycast")
	if b, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, b)
	}
	c := startChaosCluster(t, bin)
	video, audio := clip(t, show+20*time.Second)
	signer, err := auth.NewSigner([]byte(chaosSecret))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().UTC()
	var rows []chaosTrial
	for i := 0; i < trials; i++ {
		kind := kinds[i%len(kinds)]
		c.heal(t)
		r := runTrial(t, c, signer, i+1, kind, show, video, audio)
		rows = append(rows, r)
		t.Logf("trial %d %s: %s", r.N, r.Kind, oneLine(r))
		writeChaosReport(t, out, started, rows)
	}
}

func oneLine(r chaosTrial) string {
	return fmt.Sprintf("killed %s at %.1f s; rec lost %.2f s (sent %.2f, recorded %.2f, %s, ready after %.1f s); bids accepted %d lost %d double %d; winners hooks %d/%d final events %d; chat sent %d refused %d lost %d unconfirmed %d dup %d missed %d; jobs %d twice %d; viewers back edge %.2f origin %.2f; %v",
		r.Killed, r.FaultS, r.LostS, r.SentS, r.RecordedS, r.RecStatus, r.ReadyAfterS, r.Bids.ClientAccepted, r.Bids.Lost, r.Bids.DoubleAccepted,
		r.LotWonWinners, r.LotWonDeliveries, r.FinalLotEvents, r.ChatSent, r.ChatRefused, r.ChatLost, r.ChatUnconfirmed, r.ChatDup, r.ChatMissed,
		r.ChunkJobs, r.JobsTwice, r.EdgeViewerBackS, r.OriginViewerBackS, r.Notes)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

// fault kills what kind names and brings it back as the kind says; it returns the process's
// name and a channel closed once it is back.
func (c *chaosCluster) fault(t *testing.T, kind string, origin int) (string, <-chan struct{}) {
	back := make(chan struct{})
	var p *proc
	var down time.Duration
	switch kind {
	case "edge":
		p, down = c.nodes[1].proc, 8*time.Second
	case "origin":
		p, down = c.nodes[origin].proc, 8*time.Second
	case "owner":
		p, down = c.nodes[2].proc, 8*time.Second
	case "worker":
		p, down = c.work, 3*time.Second
	case "redis":
		p = c.redis // restarted at once, from its append-only file
	case "postgres":
		p = c.pg
	case "s3":
		p, down = c.s3, 30*time.Second
	default:
		t.Fatalf("unknown fault %q", kind)
	}
	p.kill()
	go func() {
		defer close(back)
		time.Sleep(down)
		var err error
		for i := 0; i < 80; i++ {
			if err = p.startErr(); err == nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Errorf("%s did not come back: %v", p.name, err)
	}()
	return p.name, back
}

func runTrial(t *testing.T, c *chaosCluster, signer *auth.Signer, n int, kind string, show time.Duration, video, audio string) chaosTrial {
	room := fmt.Sprintf("chaos-%d-%s", n, kind)
	r := chaosTrial{N: n, Kind: kind, Room: room, LoadBefore: loadavg(), ReadyAfterS: -1}
	note := func(f string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(f, a...)) }
	sellerTok, _ := signer.Issue(auth.AnyRoom, []auth.Grant{auth.GrantPublish}, time.Hour, "seller")
	ctx, stopShow := context.WithCancel(context.Background())
	defer stopShow()
	var wg sync.WaitGroup
	go1 := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }

	// The seller goes live on node a (the origin).
	s := &seller{c: c, room: room, token: sellerTok, video: video, audio: audio}
	live := make(chan struct{})
	go1(func() { s.run(ctx, 0, live) })
	select {
	case <-live:
	case <-time.After(20 * time.Second):
		note("the seller never went live")
		stopShow()
		wg.Wait()
		return r
	}
	liveAt := time.Now()

	// The lot, opened on node c (its timer's owner).
	var lot client.Lot
	lots := c.nodes[2].url + "/api/rooms/" + room + "/lots"
	if code, err := call("POST", lots, sellerTok, `{"title":"Chaos lot","start_price":100,"duration_s":30,"mode":"sudden_death"}`, &lot); err != nil || code != 201 {
		t.Fatalf("lot create: %d %v", code, err)
	}
	if code, err := call("POST", lots+"/"+lot.ID+"/start", sellerTok, "", &lot); err != nil || code != 200 {
		t.Fatalf("lot start: %d %v", code, err)
	}

	// Viewers on the origin (a) and on an edge (b); chatters and bidders on every node.
	wo, we := &watcher{c: c, room: room}, &watcher{c: c, room: room}
	go1(func() { wo.run(ctx, 0) })
	go1(func() { we.run(ctx, 1) })
	var chatters []*chatter
	var bidders []*bidder
	var lives []*liveClient
	for i := range 3 {
		tok, _ := signer.Issue(room, []auth.Grant{auth.GrantChat}, time.Hour, fmt.Sprintf("chatter-%d", i))
		ch := &chatter{liveClient: newLiveClient(c, room, tok, fmt.Sprintf("c%d", i), i), sent: map[string]string{}}
		chatters, lives = append(chatters, ch), append(lives, ch.liveClient)
		go1(func() { ch.run(ctx) })
	}
	for i := range 4 {
		tok, _ := signer.Issue(room, []auth.Grant{auth.GrantBid}, time.Hour, fmt.Sprintf("bidder-%d", i))
		b := &bidder{liveClient: newLiveClient(c, room, tok, fmt.Sprintf("b%d", i), i), lot: lot.ID}
		bidders, lives = append(bidders, b), append(lives, b.liveClient)
		go1(func() { b.run(ctx, lot.MinAmount) })
	}

	// The fault, at a random moment of the lot.
	faultAt := time.Duration(10000+rand.IntN(12000)) * time.Millisecond
	time.Sleep(time.Until(liveAt.Add(faultAt)))
	killedAt := time.Now()
	r.FaultS = killedAt.Sub(liveAt).Seconds()
	var back <-chan struct{}
	r.Killed, back = c.fault(t, kind, 0)
	time.Sleep(time.Until(liveAt.Add(show)))
	stopShow()
	wg.Wait()
	showEnd := time.Now()
	<-back

	// Viewers.
	if v, ok := we.recovered(killedAt); ok {
		r.EdgeViewerBackS = v
	} else {
		r.EdgeViewerBackS = -1
	}
	if v, ok := wo.recovered(killedAt); ok {
		r.OriginViewerBackS = v
	} else {
		r.OriginViewerBackS = -1
	}
	r.Outages = append(append([]outage(nil), wo.outages...), we.outages...)
	r.ViewerNodes = append(append([]string{"origin-viewer:"}, wo.nodes...), append([]string{"edge-viewer:"}, we.nodes...)...)

	// The lot and its bid log.
	api := func() string { return c.liveNode(2).url + "/api/rooms/" + room + "/lots/" + lot.ID }
	var final client.Lot
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, err := call("GET", api(), sellerTok, "", &final); err == nil && code == 200 && final.Status != "open" {
			break
		}
	}
	r.LotStatus = final.Status
	var bidLog []client.Bid
	if code, err := call("GET", api()+"/bids", sellerTok, "", &bidLog); err != nil || code != 200 {
		note("bid log: %d %v", code, err)
	}
	var accepted []loadtest.AcceptedBid
	for _, b := range bidders {
		accepted = append(accepted, b.accepted...)
		r.BidErrors += b.errors
	}
	r.Bids = loadtest.CheckLog(final, bidLog, accepted)

	// The room's log, read back from its start by a fresh socket.
	logText := map[string]int{}
	logSeqs := map[int64]string{}
	if ls, err := client.DialLive(context.Background(), client.LiveParams{URL: c.liveNode(0).url, Token: sellerTok}); err == nil {
		jctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if j, err := ls.Join(jctx, room, 1); err == nil {
			r.LogResumed = j.Events != nil
			for _, e := range j.Events {
				switch e.Kind {
				case "chat":
					var m struct {
						Text string `json:"text"`
					}
					_ = json.Unmarshal(e.Data, &m)
					logText[m.Text]++
					logSeqs[e.Seq] = m.Text
				case "lot":
					var l client.Lot
					_ = json.Unmarshal(e.Data, &l)
					if l.ID == lot.ID && (l.Status == "sold" || l.Status == "unsold") {
						r.FinalLotEvents++
					}
				}
			}
		} else {
			note("log join: %v", err)
		}
		cancel()
		_ = ls.Close()
	}
	seen := map[string]bool{}
	for _, l := range lives {
		for _, text := range l.got {
			seen[text] = true
		}
		r.Resumes += l.resumes
		r.ChatDup += int(l.dupSeqs)
		for seq := range logSeqs {
			if _, ok := l.got[seq]; !ok && seq > l.firstSeq && seq <= l.lastSeq {
				r.ChatMissed++
			}
		}
	}
	for _, ch := range chatters {
		for key, text := range ch.sent {
			r.ChatSent++
			_, refused := ch.refused[key]
			switch {
			case logText[text] > 0:
				r.ChatInLog++
			case refused:
				r.ChatRefused++
			case seen[text]:
				r.ChatLost++
			default:
				r.ChatUnconfirmed++
			}
		}
	}
	for _, k := range logText {
		if k > 1 {
			r.ChatDup += k - 1
		}
	}

	// The recording: one, ready, as long as what was sent.
	r.SentS, r.Parts = s.sent()
	wait := 120 * time.Second
	if kind == "s3" {
		wait += 40 * time.Second
	}
	var rec catalog.Recording
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		var page catalog.Page
		if testserver.GetJSON(t, c.liveNode(0).url+"/api/recordings?limit=100", "", &page) != 200 {
			continue
		}
		r.Recordings = 0
		for _, x := range page.Recordings {
			if x.Room == room {
				r.Recordings++
				rec = x
			}
		}
		if r.Recordings >= 1 && rec.Status == catalog.StatusReady {
			r.ReadyAfterS = time.Since(showEnd).Seconds()
			break
		}
	}
	r.RecStatus, r.RecordedS = string(rec.Status), rec.Duration
	r.LostS = r.SentS - r.RecordedS
	if r.Recordings != 1 {
		note("%d recordings of the room", r.Recordings)
	}

	// Transcode jobs done twice: a chunk the worker log says it transcoded more than once.
	if rec.ID != "" {
		wl, _ := os.ReadFile(c.work.log)
		for _, k := range logKeys(string(wl), "chunk transcoded", rec.ID, "chunk") {
			r.ChunkJobs++
			if k > 1 {
				r.JobsTwice += k - 1
			}
		}
	}

	// The winner: lot.won webhooks (deliveries, keys, winners).
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if d, _, _ := c.hooks.lotWon(lot.ID); d > 0 || final.Status != "sold" {
			break
		}
	}
	r.LotWonDeliveries, r.LotWonKeys, r.LotWonWinners = c.hooks.lotWon(lot.ID)
	r.DoubleWinner = r.LotWonWinners > 1 || r.LotWonKeys > 1 || r.FinalLotEvents > 1
	return r
}
