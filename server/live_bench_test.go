package server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
)

// BenchmarkLiveFanout: one bid per iteration (paced to 200 a second, round robin over 40
// bidders, under the per-bidder rate limit), each waiting for its bid_result, into a room of 500
// viewer sockets on the same node (in-process: the viewers' reading and JSON
// decoding share the CPU with the server). Reports bid → bid_result and event fan-out (the bid
// event's server `at` → each viewer's receipt) percentiles, and checks that every viewer got
// every bid event. Real Redis when RELAYCAST_TEST_REDIS is set, else the embedded one.
//
//	go test -run '^$' -bench LiveFanout -benchtime 2000x ./server/
func BenchmarkLiveFanout(b *testing.B) {
	const viewers = 500
	url := ""
	if addr := os.Getenv("RELAYCAST_TEST_REDIS"); addr != "" {
		url = "redis://" + addr + "/4"
	}
	s := &liveServer{testServer: startB(b, func(c *config.Config) { c.Record = false; c.RedisURL = url })}
	r := room("fan")
	seller := s.dialB(b).reading()
	seller.join(map[string]any{"room": r, "token": s.tokenB(b, r, "seller", auth.GrantPublish)})
	seller.send(map[string]any{"type": "lot_create", "lot": map[string]any{"title": "x", "start_price": 1, "duration_s": 3600,
		"increments": []map[string]int{{"up_to": 0, "step": 1}}}})
	var lot liveLot
	_ = json.Unmarshal(seller.reply().Lot, &lot)
	seller.send(map[string]any{"type": "lot_start", "lot_id": lot.ID})
	seller.reply()

	var mu sync.Mutex
	var fan []float64
	counts := make([]int, viewers)
	var wg sync.WaitGroup
	for i := range viewers {
		c := s.dialB(b)
		if err := c.conn.WriteJSON(map[string]any{"type": "join", "room": r, "name": fmt.Sprintf("v%d", i)}); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, msg, err := c.conn.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now().UnixMilli()
				var m struct {
					Type, Kind string
					At         int64
				}
				_ = json.Unmarshal(msg, &m)
				if m.Type == "event" && m.Kind == "bid" {
					mu.Lock()
					fan = append(fan, float64(now-m.At))
					counts[i]++
					mu.Unlock()
				}
			}
		}()
	}
	bidders := make([]*liveClient, 40)
	for i := range bidders {
		bidders[i] = s.dialB(b).reading()
		bidders[i].join(map[string]any{"room": r, "token": s.tokenB(b, r, fmt.Sprintf("b%d", i), auth.GrantBid)})
	}
	time.Sleep(time.Second)
	amount, accepted := int64(1), 0
	var rtt []float64
	b.ResetTimer()
	for i := range b.N {
		c := bidders[i%len(bidders)]
		t0 := time.Now()
		c.send(map[string]any{"type": "bid", "lot_id": lot.ID, "amount": amount})
		m := c.reply()
		rtt = append(rtt, float64(time.Since(t0).Microseconds())/1000)
		if m.Type != "bid_result" {
			b.Fatalf("bid: %+v", m)
		}
		if m.Accepted {
			accepted++
		}
		amount = m.MinAmount
		time.Sleep(time.Until(t0.Add(5 * time.Millisecond)))
	}
	b.StopTimer()
	wg.Wait()
	slices.Sort(fan)
	slices.Sort(rtt)
	p := func(x []float64, q float64) float64 {
		if len(x) == 0 {
			return 0
		}
		return x[int(float64(len(x)-1)*q)]
	}
	for i, n := range counts {
		if n != accepted {
			b.Errorf("viewer %d got %d bid events, want %d", i, n, accepted)
			break
		}
	}
	b.ReportMetric(p(rtt, .5), "bid-p50-ms")
	b.ReportMetric(p(rtt, .95), "bid-p95-ms")
	b.ReportMetric(p(fan, .5), "fanout-p50-ms")
	b.ReportMetric(p(fan, .95), "fanout-p95-ms")
	b.ReportMetric(p(fan, .99), "fanout-p99-ms")
	b.ReportMetric(float64(len(fan)), "deliveries")
}

// startB, dialB and tokenB are the benchmark's versions of the test helpers.
func startB(b *testing.B, mutate func(*config.Config)) *testServer {
	b.Helper()
	srv := testserver.Start(b, mutate)
	return &testServer{Server: srv, url: srv.URL()}
}

func (s *liveServer) dialB(b *testing.B) *liveClient {
	conn, _, err := websocket.DefaultDialer.Dial("ws"+s.url[len("http"):]+"/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return &liveClient{t: b, conn: conn}
}

func (s *liveServer) tokenB(b *testing.B, room, subject string, g auth.Grant) string {
	tok, err := s.Signer().Issue(room, []auth.Grant{g}, time.Hour, subject)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}
