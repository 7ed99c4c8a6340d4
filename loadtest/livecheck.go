package loadtest

import (
	"fmt"

	"github.com/relaycast/relaycast/client"
)

// LogCheck compares the bids the harness saw accepted (bid_result) with the lot's bid log
// (GET /api/rooms/{room}/lots/{id}/bids, read after the lot ended).
type LogCheck struct {
	Read           bool `json:"read"`            // the log was read
	Entries        int  `json:"entries"`         // log entries (accepted and refused)
	Accepted       int  `json:"accepted"`        // accepted entries (proxy ones included)
	Proxy          int  `json:"proxy"`           // accepted engine bids for a max holder
	Refused        int  `json:"refused"`         // refused entries (when the log keeps them)
	ClientAccepted int  `json:"client_accepted"` // bid_results with accepted true
	// Lost: a bid_result said accepted, and the log has no accepted entry with its n, subject
	// and amount.
	Lost int `json:"lost"`
	// DoubleAccepted: one bid accepted twice (two accepted entries or two results with the same
	// n), or two accepted bids at the same price.
	DoubleAccepted int `json:"double_accepted"`
	// Phantom: accepted non-proxy entries no bid_result reported (a result lost in transit, or a
	// bid whose answer timed out: compare with bid errors).
	Phantom       int `json:"phantom"`
	NotIncreasing int `json:"not_increasing"` // accepted price not above the previous accepted price
	BadIncrement  int `json:"bad_increment"`  // accepted amount below previous price + its increment (or below the start price)
	// FinalMatches: the ended lot's price and winner are the last accepted entry's.
	FinalMatches bool     `json:"final_matches"`
	BidEvents    int64    `json:"bid_events"`         // `bid` events on the first gap-free viewer socket (-1: none was gap-free)
	EventsMatch  bool     `json:"events_match"`       // BidEvents == Accepted
	Problems     []string `json:"problems,omitempty"` // the first few violations, for the report
}

// acceptRec is one bid_result that said accepted.
type acceptRec struct {
	N       int64
	Subject string
	Amount  int64
}

// AcceptedBid is one bid_result that said accepted (for CheckLog).
type AcceptedBid = acceptRec

// CheckLog verifies a lot's bid log against the accepted bid_results and the ended lot (the
// check the live load test runs; e2e's chaos trials use it too).
func CheckLog(lot client.Lot, log []client.Bid, accepts []AcceptedBid) LogCheck {
	return checkLog(lot, log, accepts)
}

// stepAt is the increment above price p in the lot's table (docs/AUCTION.md): the step of the
// first tier with p < up_to, or up_to 0.
func stepAt(incs []client.Increment, p int64) int64 {
	for _, r := range incs {
		if r.UpTo == 0 || p < r.UpTo {
			return r.Step
		}
	}
	return 1 // no table: any higher amount
}

// checkLog verifies the bid log against the accepted results and the ended lot.
func checkLog(lot client.Lot, log []client.Bid, accepts []acceptRec) LogCheck {
	c := LogCheck{Read: true, Entries: len(log), ClientAccepted: len(accepts), BidEvents: -1}
	problem := func(format string, a ...any) {
		if len(c.Problems) < 10 {
			c.Problems = append(c.Problems, fmt.Sprintf(format, a...))
		}
	}
	byN := map[int64]client.Bid{}
	seenN := map[int64]bool{}
	var last *client.Bid
	for i := range log {
		b := log[i]
		if seenN[b.N] {
			c.DoubleAccepted++
			problem("log entry n=%d appears twice", b.N)
		}
		seenN[b.N] = true
		if !b.Accepted {
			c.Refused++
			continue
		}
		c.Accepted++
		if b.Proxy {
			c.Proxy++
		}
		byN[b.N] = b
		if last == nil {
			if !b.Proxy && b.Amount < lot.StartPrice {
				c.BadIncrement++
				problem("first accepted bid n=%d: %d below the start price %d", b.N, b.Amount, lot.StartPrice)
			}
		} else {
			switch {
			case b.Price == last.Price || (!b.Proxy && b.Amount == last.Price):
				c.DoubleAccepted++
				problem("n=%d accepted at %d, the price n=%d already had", b.N, b.Price, last.N)
			case b.Price < last.Price:
				c.NotIncreasing++
				problem("n=%d price %d after n=%d's %d", b.N, b.Price, last.N, last.Price)
			}
			if step := stepAt(lot.Increments, last.Price); !b.Proxy && b.Amount < last.Price+step {
				c.BadIncrement++
				problem("n=%d amount %d below %d + increment %d", b.N, b.Amount, last.Price, step)
			}
		}
		last = &log[i]
	}
	clientN := map[int64]bool{}
	for _, a := range accepts {
		if clientN[a.N] {
			c.DoubleAccepted++
			problem("two bid_results accepted n=%d", a.N)
			continue
		}
		clientN[a.N] = true
		b, ok := byN[a.N]
		if !ok || b.Subject != a.Subject || b.Amount != a.Amount {
			c.Lost++
			problem("accepted n=%d (%s, %d) is not in the log as accepted", a.N, a.Subject, a.Amount)
		}
	}
	for n, b := range byN {
		if !b.Proxy && !clientN[n] {
			c.Phantom++
		}
	}
	switch {
	case last == nil:
		c.FinalMatches = lot.Winner == "" && (lot.Status == "unsold" || lot.Status == "cancelled")
	default:
		c.FinalMatches = lot.Price == last.Price && lot.Winner == last.Leader && lot.Status == "sold"
		if !c.FinalMatches {
			problem("lot ended %s at %d won by %q; the last accepted entry n=%d has %d, leader %q", lot.Status, lot.Price, lot.Winner, last.N, last.Price, last.Leader)
		}
	}
	return c
}
