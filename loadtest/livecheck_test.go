package loadtest

import (
	"strings"
	"testing"

	"github.com/relaycast/relaycast/client"
)

func TestCheckLog(t *testing.T) {
	incs := []client.Increment{{UpTo: 3000, Step: 100}, {UpTo: 10000, Step: 250}, {UpTo: 0, Step: 500}}
	bid := func(n int64, subject string, amount int64, accepted bool) client.Bid {
		b := client.Bid{N: n, Subject: subject, Amount: amount, Accepted: accepted, Price: amount, Leader: subject}
		if !accepted {
			b.Reason = "too_low"
		}
		return b
	}
	good := []client.Bid{
		bid(1, "a", 1000, true), bid(2, "b", 1000, false), bid(3, "b", 1100, true), bid(4, "c", 1300, true), // a jump bid
		bid(5, "a", 2900, true), bid(6, "b", 3000, true), // 2900 + 100
		bid(7, "c", 3250, true), // 3000 is in the 250 tier
	}
	accepts := []acceptRec{{1, "a", 1000}, {3, "b", 1100}, {4, "c", 1300}, {5, "a", 2900}, {6, "b", 3000}, {7, "c", 3250}}
	sold := client.Lot{StartPrice: 1000, Increments: incs, Status: "sold", Price: 3250, Winner: "c"}
	c := checkLog(sold, good, accepts)
	if c.Lost != 0 || c.DoubleAccepted != 0 || c.NotIncreasing != 0 || c.BadIncrement != 0 || !c.FinalMatches || c.Phantom != 0 ||
		c.Accepted != 6 || c.Refused != 1 || c.Entries != 7 || len(c.Problems) != 0 {
		t.Fatalf("a good log: %+v", c)
	}
	for _, tc := range []struct {
		name    string
		lot     client.Lot
		log     []client.Bid
		accepts []acceptRec
		check   func(LogCheck) bool
		problem string
	}{
		{"lost: an accepted result missing from the log", sold, good[:6], accepts, func(c LogCheck) bool { return c.Lost == 1 && !c.FinalMatches }, "not in the log"},
		{"lost: the log refused what the result accepted", sold, append(append([]client.Bid(nil), good[:6]...), bid(7, "c", 3250, false)), accepts,
			func(c LogCheck) bool { return c.Lost == 1 }, "n=7"},
		{"double: two accepted at one price", sold, append(append([]client.Bid(nil), good...), bid(8, "a", 3250, true)), accepts,
			func(c LogCheck) bool { return c.DoubleAccepted == 1 && c.Phantom == 1 }, "already had"},
		{"double: one n twice", sold, append(append([]client.Bid(nil), good...), bid(7, "c", 3250, true)), accepts,
			func(c LogCheck) bool { return c.DoubleAccepted >= 1 }, "appears twice"},
		{"double: two results with one n", sold, good, append(append([]acceptRec(nil), accepts...), acceptRec{7, "c", 3250}),
			func(c LogCheck) bool { return c.DoubleAccepted == 1 }, "two bid_results"},
		{"below the increment", client.Lot{StartPrice: 1000, Increments: incs, Status: "sold", Price: 1050, Winner: "b"},
			[]client.Bid{bid(1, "a", 1000, true), bid(2, "b", 1050, true)}, []acceptRec{{1, "a", 1000}, {2, "b", 1050}},
			func(c LogCheck) bool { return c.BadIncrement == 1 && c.FinalMatches }, "below 1000 + increment 100"},
		{"below the start price", client.Lot{StartPrice: 1000, Status: "sold", Price: 900, Winner: "a"},
			[]client.Bid{bid(1, "a", 900, true)}, []acceptRec{{1, "a", 900}}, func(c LogCheck) bool { return c.BadIncrement == 1 }, "start price"},
		{"price going down", client.Lot{StartPrice: 1000, Status: "sold", Price: 1100, Winner: "b"},
			[]client.Bid{bid(1, "a", 1200, true), bid(2, "b", 1100, true)}, []acceptRec{{1, "a", 1200}, {2, "b", 1100}},
			func(c LogCheck) bool { return c.NotIncreasing == 1 }, "after n=1"},
		{"wrong winner", client.Lot{StartPrice: 1000, Increments: incs, Status: "sold", Price: 3250, Winner: "a"}, good, accepts,
			func(c LogCheck) bool { return !c.FinalMatches }, "won by"},
		{"no bids: unsold", client.Lot{StartPrice: 1000, Status: "unsold"}, nil, nil, func(c LogCheck) bool { return c.FinalMatches && c.Accepted == 0 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := checkLog(tc.lot, tc.log, tc.accepts)
			if !tc.check(c) {
				t.Fatalf("%+v", c)
			}
			if tc.problem != "" && !strings.Contains(strings.Join(c.Problems, "\n"), tc.problem) {
				t.Fatalf("problems %q lack %q", c.Problems, tc.problem)
			}
		})
	}
}

func TestStepAt(t *testing.T) {
	incs := []client.Increment{{UpTo: 3000, Step: 100}, {UpTo: 0, Step: 500}}
	for _, tc := range []struct{ p, want int64 }{{0, 100}, {2999, 100}, {3000, 500}, {3001, 500}, {99999, 500}} {
		if got := stepAt(incs, tc.p); got != tc.want {
			t.Errorf("stepAt(%d) = %d, want %d", tc.p, got, tc.want)
		}
	}
	if got := stepAt(nil, 5); got != 1 {
		t.Errorf("no table: %d", got)
	}
}

func TestEvaluateLive(t *testing.T) {
	th := Thresholds{}.WithDefaults()
	base := func() *Report {
		return &Report{Live: &LiveSummary{Bidders: 10, Chatters: 2, Viewers: 5, Stalled: 1, Target: 18, Joined: 18,
			AcceptedLatency: Dist{Count: 10, P95: 20}, PriceFanout: Dist{Count: 50, P95: 40}, ChatDelivery: Dist{Count: 20, P95: 30},
			Log: &LogCheck{Read: true, FinalMatches: true}}}
	}
	checks := func(r *Report) map[string]Check {
		r.Evaluate(th)
		m := map[string]Check{}
		for _, c := range r.Checks {
			m[c.Name] = c
		}
		return m
	}
	r := base()
	m := checks(r)
	for _, name := range []string{checkLiveConnected, checkBidP95, checkPriceP95, checkChatP95, checkGaps, checkDups, checkIsolation, checkBidsLost, checkBidsDouble, checkIncrements, checkFinal} {
		if c, ok := m[name]; !ok || !c.Pass || !c.Measured {
			t.Errorf("%s: %+v (present %v)", name, c, ok)
		}
	}
	if !r.Pass {
		t.Fatalf("a good live run fails: %+v", r.Checks)
	}
	for _, tc := range []struct {
		name  string
		spoil func(*LiveSummary)
		check string
	}{
		{"slow bids", func(l *LiveSummary) { l.AcceptedLatency.P95 = 51 }, checkBidP95},
		{"slow price", func(l *LiveSummary) { l.PriceFanout.P95 = 151 }, checkPriceP95},
		{"slow chat", func(l *LiveSummary) { l.ChatDelivery.P95 = 201 }, checkChatP95},
		{"no accepted bid", func(l *LiveSummary) { l.AcceptedLatency = Dist{} }, checkBidP95},
		{"a gap", func(l *LiveSummary) { l.Gaps = 1 }, checkGaps},
		{"a duplicate", func(l *LiveSummary) { l.Dups = 2 }, checkDups},
		{"a viewer closed", func(l *LiveSummary) { l.SocketsClosed = 1 }, checkIsolation},
		{"a lost bid", func(l *LiveSummary) { l.Log.Lost = 1 }, checkBidsLost},
		{"double", func(l *LiveSummary) { l.Log.DoubleAccepted = 1 }, checkBidsDouble},
		{"increment", func(l *LiveSummary) { l.Log.BadIncrement = 1 }, checkIncrements},
		{"winner", func(l *LiveSummary) { l.Log.FinalMatches = false }, checkFinal},
		{"log unread", func(l *LiveSummary) { l.Log = nil }, checkBidsLost},
		{"a socket did not join", func(l *LiveSummary) { l.Joined = 17 }, checkLiveConnected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.spoil(r.Live)
			m := checks(r)
			if r.Pass || m[tc.check].Pass {
				t.Fatalf("%s passes: %+v", tc.check, m[tc.check])
			}
		})
	}
	// Without chatters there is no chat check; without the live scenario no live check at all.
	r = base()
	r.Live.Chatters = 0
	if _, ok := checks(r)[checkChatP95]; ok {
		t.Error("chat check without chatters")
	}
	if m := checks(&Report{}); len(m) != 0 {
		for name := range m {
			if strings.HasPrefix(name, "bid") || name == checkGaps {
				t.Errorf("live check %s without a live scenario", name)
			}
		}
	}
}
