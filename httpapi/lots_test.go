package httpapi_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
)

// liveAPI is a server for the live room's REST tests (recording off).
type liveAPI struct {
	*server.Server
	base string
}

// liveBackends runs f on the embedded Redis and, when RELAYCAST_TEST_REDIS is set, real Redis.
func liveBackends(t *testing.T, f func(t *testing.T, s *liveAPI)) {
	t.Run("embedded", func(t *testing.T) {
		srv := testserver.Start(t, func(c *config.Config) { c.Record = false })
		f(t, &liveAPI{srv, srv.URL()})
	})
	t.Run("redis", func(t *testing.T) {
		url := testRedisURL(t, 5)
		srv := testserver.Start(t, func(c *config.Config) { c.Record = false; c.RedisURL = url })
		f(t, &liveAPI{srv, srv.URL()})
	})
}

func (s *liveAPI) tok(t *testing.T, room, subject string, grants ...auth.Grant) string {
	t.Helper()
	tok, err := s.Signer().Issue(room, grants, time.Hour, subject)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a JSON body (none when body is "") and decodes the answer into out (if non-nil).
func (s *liveAPI) call(t *testing.T, method, path, token, body string, out any) (int, string) {
	t.Helper()
	var req *http.Request
	if body == "" {
		req, _ = http.NewRequest(method, s.base+path, nil)
	} else {
		req, _ = http.NewRequest(method, s.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	res, b := testserver.Send(t, req, token)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode, string(b)
}

func liveRoom(prefix string) string { return fmt.Sprintf("%s-%d", prefix, rand.Int64N(1<<40)) }

type apiLot struct {
	ID         string  `json:"id"`
	Status     string  `json:"status"`
	Price      int64   `json:"price"`
	MinAmount  int64   `json:"min_amount"`
	Leader     *string `json:"leader"`
	BidCount   int     `json:"bid_count"`
	EndsAt     int64   `json:"ends_at"`
	ServerTime int64   `json:"server_time"`
	Winner     *string `json:"winner"`
}

type apiBid struct {
	N         int64   `json:"n"`
	Subject   string  `json:"subject"`
	Name      string  `json:"name"`
	Amount    int64   `json:"amount"`
	MaxAmount int64   `json:"max_amount"`
	At        int64   `json:"at"`
	Accepted  bool    `json:"accepted"`
	Reason    string  `json:"reason"`
	Proxy     bool    `json:"proxy"`
	Leader    *string `json:"leader"`
}

// Every lot endpoint with its status codes: create (201), list, get (404 unknown), start /
// end / cancel (200, 409 in the wrong state), bids (201 accepted, 409 refused with code and
// min_amount, 400 invalid, 404 unknown lot), the bid log (subjects and maxima only for the
// room's managers), and the token checks (401 no/bad token, 403 without the grant or room).
func TestLotsAPI(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveAPI) {
		r := liveRoom("shop")
		seller := s.tok(t, r, "seller", auth.GrantPublish)
		mod := s.tok(t, r, "mod", auth.GrantModerate)
		admin := s.tok(t, auth.AnyRoom, "root", auth.GrantAdmin)
		viewer := s.tok(t, r, "viewer", auth.GrantSubscribe)
		ana := s.tok(t, r, "u-ana", auth.GrantBid)
		bo := s.tok(t, r, "u-bo", auth.GrantBid)
		lots := "/api/rooms/" + r + "/lots"
		body := `{"title":"Vase","start_price":1000,"duration_s":60,"mode":"standard","extend_window_s":10,"extend_to_s":10}`

		for _, c := range []struct {
			name, token, body string
			want              int
		}{
			{"no token", "", body, 401},
			{"bad token", "nope", body, 401},
			{"subscriber", viewer, body, 403},
			{"bidder", ana, body, 403},
			{"other room", s.tok(t, "elsewhere", "x", auth.GrantPublish), body, 403},
			{"not JSON", seller, `{"title":`, 400},
			{"no title", seller, `{"start_price":1000,"duration_s":60}`, 400},
			{"unknown field", seller, `{"title":"x","start_price":1000,"duration_s":60,"colour":1}`, 400},
			{"bad mode", seller, `{"title":"x","start_price":1000,"duration_s":60,"mode":"dutch"}`, 400},
		} {
			if code, b := s.call(t, "POST", lots, c.token, c.body, nil); code != c.want || !strings.Contains(b, `"error"`) {
				t.Errorf("create as %s: %d %s, want %d", c.name, code, b, c.want)
			}
		}
		if code, _ := s.call(t, "POST", "/api/rooms/bad%20room/lots", seller, body, nil); code != 400 {
			t.Errorf("bad room: %d", code)
		}
		var l1, l2, l3 apiLot
		for _, c := range []struct {
			tok string
			out *apiLot
		}{{seller, &l1}, {mod, &l2}, {admin, &l3}} {
			if code, b := s.call(t, "POST", lots, c.tok, body, c.out); code != 201 || c.out.Status != "queued" || c.out.ID == "" || c.out.Price != 1000 {
				t.Fatalf("create: %d %s", code, b)
			}
		}
		var list []apiLot
		if code, _ := s.call(t, "GET", lots, "", "", &list); code != 200 || len(list) != 3 || list[0].ID != l1.ID {
			t.Fatalf("list: %d %+v", code, list)
		}
		var got map[string]json.RawMessage
		if code, b := s.call(t, "GET", lots+"/"+l1.ID, "", "", &got); code != 200 {
			t.Fatalf("get: %d %s", code, b)
		}
		for _, f := range []string{"id", "status", "price", "leader", "bid_count", "ends_at", "server_time", "winner", "min_amount"} {
			if _, ok := got[f]; !ok {
				t.Errorf("the lot has no %q: %v", f, got)
			}
		}
		if code, b := s.call(t, "GET", lots+"/nosuch", "", "", nil); code != 404 || !strings.Contains(b, `"code":"not_found"`) {
			t.Errorf("unknown lot: %d %s", code, b)
		}

		// start: managers only; a second open lot conflicts.
		if code, _ := s.call(t, "POST", lots+"/"+l1.ID+"/start", ana, "", nil); code != 403 {
			t.Errorf("start as bidder: %d", code)
		}
		if code, _ := s.call(t, "POST", lots+"/"+l1.ID+"/start", "", "", nil); code != 401 {
			t.Errorf("start without token: %d", code)
		}
		var open apiLot
		if code, b := s.call(t, "POST", lots+"/"+l1.ID+"/start", seller, "", &open); code != 200 || open.Status != "open" || open.EndsAt <= open.ServerTime {
			t.Fatalf("start: %d %s", code, b)
		}
		if code, b := s.call(t, "POST", lots+"/"+l2.ID+"/start", seller, "", nil); code != 409 || !strings.Contains(b, `"code":"conflict"`) {
			t.Errorf("start a second lot: %d %s", code, b)
		}
		if code, _ := s.call(t, "POST", lots+"/nosuch/start", seller, "", nil); code != 404 {
			t.Errorf("start unknown: %d", code)
		}

		// bids
		bids := lots + "/" + l1.ID + "/bids"
		for _, c := range []struct {
			name, token, body string
			want              int
		}{
			{"no token", "", `{"amount":1000}`, 401},
			{"subscriber", viewer, `{"amount":1000}`, 403},
			{"seller", seller, `{"amount":1000}`, 403},
			{"neither", ana, `{}`, 400},
			{"both", ana, `{"amount":1000,"max_amount":2000}`, 400},
			{"negative", ana, `{"amount":-1}`, 400},
			{"text", ana, `{"amount":"1000"}`, 400},
		} {
			if code, b := s.call(t, "POST", bids, c.token, c.body, nil); code != c.want {
				t.Errorf("bid as %s: %d %s, want %d", c.name, code, b, c.want)
			}
		}
		if code, _ := s.call(t, "POST", lots+"/nosuch/bids", ana, `{"amount":1000}`, nil); code != 404 {
			t.Errorf("bid on unknown lot: %d", code)
		}
		var acc struct {
			Bid apiBid `json:"bid"`
			Lot apiLot `json:"lot"`
		}
		if code, b := s.call(t, "POST", bids, ana, `{"amount":1000}`, &acc); code != 201 || !acc.Bid.Accepted || acc.Lot.Price != 1000 || *acc.Lot.Leader != "u-ana" {
			t.Fatalf("bid: %d %s", code, b)
		}
		var ref struct {
			Error     string `json:"error"`
			Code      string `json:"code"`
			MinAmount int64  `json:"min_amount"`
		}
		if code, b := s.call(t, "POST", bids, bo, `{"amount":1000}`, &ref); code != 409 || ref.Code != "too_low" || ref.MinAmount != acc.Lot.MinAmount || ref.Error == "" {
			t.Fatalf("too low: %d %s", code, b)
		}
		if code, b := s.call(t, "POST", bids, bo, `{"max_amount":5000}`, &acc); code != 201 || *acc.Lot.Leader != "u-bo" {
			t.Fatalf("max bid: %d %s", code, b)
		}
		if code, b := s.call(t, "POST", bids, ana, fmt.Sprintf(`{"amount":%d}`, acc.Lot.MinAmount), &acc); code != 201 || *acc.Lot.Leader != "u-bo" {
			t.Fatalf("outbid by the proxy: %d %s", code, b)
		}
		// The bid log: public without subjects and maxima, full for the seller.
		var pub, full []apiBid
		if code, _ := s.call(t, "GET", bids, "", "", &pub); code != 200 || len(pub) < 4 {
			t.Fatalf("public bid log: %d %+v", code, pub)
		}
		for i, b := range pub {
			if b.Subject != "" || b.MaxAmount != 0 || b.Leader != nil || b.Name == "" || b.At == 0 || b.N != int64(i+1) {
				t.Errorf("public bid %d: %+v", i, b)
			}
		}
		if code, _ := s.call(t, "GET", bids, "nope", "", nil); code != 401 {
			t.Errorf("bid log with a bad token: %d", code)
		}
		if code, _ := s.call(t, "GET", bids, seller, "", &full); code != 200 || len(full) != len(pub) || full[0].Subject != "u-ana" {
			t.Fatalf("seller's bid log: %d %+v", code, full)
		}
		sawMax := false
		for _, b := range full {
			sawMax = sawMax || b.MaxAmount == 5000
		}
		if !sawMax {
			t.Errorf("the seller's bid log lacks the max bid: %+v", full)
		}

		// cancel: not after a bid; a queued lot yes.
		if code, _ := s.call(t, "POST", lots+"/"+l1.ID+"/cancel", seller, "", nil); code != 409 {
			t.Errorf("cancel after bids: %d", code)
		}
		var c2 apiLot
		if code, b := s.call(t, "POST", lots+"/"+l2.ID+"/cancel", mod, "", &c2); code != 200 || c2.Status != "cancelled" {
			t.Errorf("cancel queued: %d %s", code, b)
		}
		if code, b := s.call(t, "POST", lots+"/"+l2.ID+"/bids", ana, `{"amount":5000}`, &ref); code != 409 || ref.Code != "lot_closed" {
			t.Errorf("bid on a cancelled lot: %d %s", code, b)
		}
		// end: sold to the leader; later bids are 409 lot_closed.
		var sold apiLot
		if code, b := s.call(t, "POST", lots+"/"+l1.ID+"/end", admin, "", &sold); code != 200 || sold.Status != "sold" || sold.Winner == nil || *sold.Winner != "u-bo" {
			t.Fatalf("end: %d %s", code, b)
		}
		if code, b := s.call(t, "POST", bids, ana, `{"amount":90000}`, &ref); code != 409 || ref.Code != "lot_closed" {
			t.Errorf("bid after end: %d %s", code, b)
		}
		if code, _ := s.call(t, "POST", lots+"/"+l1.ID+"/end", seller, "", nil); code != 409 {
			t.Errorf("end twice: %d", code)
		}
		var after apiLot
		if s.call(t, "GET", lots+"/"+l1.ID, "", "", &after); after.Status != "sold" || *after.Winner != "u-bo" || after.BidCount != sold.BidCount {
			t.Errorf("sold lot: %+v", after)
		}
	})
}

// A bidder flooding bids is refused with 429 rate_limited after a burst; the others are not.
func TestBidFlood(t *testing.T) {
	s := &liveAPI{testserver.Start(t, func(c *config.Config) { c.Record = false }), ""}
	s.base = s.URL()
	r := liveRoom("flood")
	seller := s.tok(t, r, "seller", auth.GrantPublish)
	var lot apiLot
	s.call(t, "POST", "/api/rooms/"+r+"/lots", seller, `{"title":"x","start_price":100,"duration_s":60}`, &lot)
	s.call(t, "POST", "/api/rooms/"+r+"/lots/"+lot.ID+"/start", seller, "", nil)
	flood, other := s.tok(t, r, "flood", auth.GrantBid), s.tok(t, r, "other", auth.GrantBid)
	bids := "/api/rooms/" + r + "/lots/" + lot.ID + "/bids"
	limited := 0
	for range 40 {
		code, b := s.call(t, "POST", bids, flood, `{"amount":1}`, nil)
		switch {
		case code == 429 && strings.Contains(b, `"code":"rate_limited"`):
			limited++
		case code != 409:
			t.Fatalf("flood bid: %d %s", code, b)
		}
	}
	if limited < 10 {
		t.Errorf("%d of 40 flood bids rate limited", limited)
	}
	if code, b := s.call(t, "POST", bids, other, `{"amount":100}`, nil); code != 201 {
		t.Errorf("another bidder: %d %s", code, b)
	}
	var log []apiBid
	if s.call(t, "GET", bids, seller, "", &log); len(log) > 40-limited+1 {
		t.Errorf("the bid log has %d entries: the refused flood reached the auction", len(log))
	}
}
