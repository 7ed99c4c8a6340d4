package auction

import (
	"errors"
	"strings"
	"testing"
)

func TestStepAt(t *testing.T) {
	table := DefaultIncrements()
	cases := []struct {
		price, step int64
	}{
		{0, 100}, {2999, 100}, {3000, 200}, {4999, 200}, {5000, 500}, {9999, 500}, {10000, 1000},
		{29999, 1000}, {30000, 2500}, {99999, 2500}, {100000, 5000}, {299999, 5000}, {300000, 10000},
		{MaxMoney, 10000},
	}
	for _, c := range cases {
		if got := StepAt(table, c.price); got != c.step {
			t.Errorf("StepAt(%d) = %d, want %d", c.price, got, c.step)
		}
	}
}

func TestMinAmount(t *testing.T) {
	table := DefaultIncrements()
	cases := []struct {
		name              string
		start, price, min int64
		hasBid            bool
	}{
		{"no bid: the start price", 2500, 2500, 2500, false},
		{"no bid at 0: one increment", 0, 0, 100, false},
		{"after a bid: one increment over", 2500, 2500, 2600, true},
		{"tier edge", 0, 2950, 3050, true},
		{"next tier", 0, 3000, 3200, true},
		{"top tier", 0, 500000, 510000, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := MinAmount(table, c.start, c.price, c.hasBid); got != c.min {
				t.Errorf("MinAmount = %d, want %d", got, c.min)
			}
		})
	}
}

func TestCheckIncrements(t *testing.T) {
	cases := []struct {
		name  string
		table []Increment
		ok    bool
	}{
		{"default", DefaultIncrements(), true},
		{"one open tier", []Increment{{0, 5}}, true},
		{"empty", nil, false},
		{"last not open", []Increment{{100, 5}}, false},
		{"zero step", []Increment{{100, 0}, {0, 5}}, false},
		{"negative step", []Increment{{0, -1}}, false},
		{"not growing", []Increment{{100, 5}, {100, 10}, {0, 20}}, false},
		{"open tier in the middle", []Increment{{0, 5}, {100, 10}, {0, 20}}, false},
		{"huge step", []Increment{{0, MaxMoney + 1}}, false},
		{"too many tiers", make([]Increment, MaxIncrementTiers+1), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckIncrements(c.table)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "increments")) {
				t.Fatalf("err = %v: not ErrInvalid naming increments", err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	good := LotInput{Title: "Vintage camera", StartPrice: 1000, DurationS: 60}
	n, err := good.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if n.Mode != ModeStandard || n.ExtendWindowS != 10 || n.ExtendToS != 10 || n.MaxExtensions != 0 ||
		len(n.Increments) != len(DefaultIncrements()) {
		t.Fatalf("defaults not applied: %+v", n)
	}
	bad := []struct {
		field string
		edit  func(*LotInput)
	}{
		{"title", func(l *LotInput) { l.Title = "" }},
		{"title", func(l *LotInput) { l.Title = "   " }},
		{"title", func(l *LotInput) { l.Title = strings.Repeat("é", MaxTitle+1) }},
		{"title", func(l *LotInput) { l.Title = "a\x00b" }},
		{"title", func(l *LotInput) { l.Title = "bad \xff utf8" }},
		{"description", func(l *LotInput) { l.Description = strings.Repeat("x", MaxDescription+1) }},
		{"description", func(l *LotInput) { l.Description = "bell\a" }},
		{"start_price", func(l *LotInput) { l.StartPrice = -1 }},
		{"start_price", func(l *LotInput) { l.StartPrice = MaxMoney + 1 }},
		{"duration_s", func(l *LotInput) { l.DurationS = 4 }},
		{"duration_s", func(l *LotInput) { l.DurationS = 3601 }},
		{"extend_window_s", func(l *LotInput) { l.ExtendWindowS = -1 }},
		{"extend_window_s", func(l *LotInput) { l.ExtendWindowS = 601 }},
		{"extend_to_s", func(l *LotInput) { l.ExtendToS = 601 }},
		{"max_extensions", func(l *LotInput) { l.MaxExtensions = -1 }},
		{"mode", func(l *LotInput) { l.Mode = "dutch" }},
		{"image_url", func(l *LotInput) { l.ImageURL = "javascript:alert(1)" }},
		{"image_url", func(l *LotInput) { l.ImageURL = "ftp://host/x.png" }},
		{"image_url", func(l *LotInput) { l.ImageURL = "https://" }},
		{"image_url", func(l *LotInput) { l.ImageURL = "https://host/a b.png" }},
		{"increments", func(l *LotInput) { l.Increments = []Increment{{100, 5}} }},
	}
	for _, c := range bad {
		in := good
		c.edit(&in)
		_, err := in.Normalize()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: err = %v, want ErrInvalid naming %s", c.field, err, c.field)
		}
	}
	in := good
	in.Description = "line one\nline two\ttab"
	in.ImageURL = "https://shop.example/img/1.jpg"
	in.StartPrice = 0
	in.Mode = ModeSuddenDeath
	if _, err := in.Normalize(); err != nil {
		t.Fatalf("a good lot refused: %v", err)
	}
}

func TestBidRequestCheck(t *testing.T) {
	ok := BidRequest{Room: "r", LotID: "abc", Subject: "alice", Name: "Alice", Amount: 100}
	if _, err := ok.check(); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		field string
		edit  func(*BidRequest)
	}{
		{"room", func(r *BidRequest) { r.Room = "" }},
		{"lot_id", func(r *BidRequest) { r.LotID = "" }},
		{"subject", func(r *BidRequest) { r.Subject = "" }},
		{"subject", func(r *BidRequest) { r.Subject = strings.Repeat("s", MaxSubject+1) }},
		{"amount", func(r *BidRequest) { r.Amount = -5 }},
		{"amount", func(r *BidRequest) { r.Amount = MaxMoney + 1 }},
		{"amount", func(r *BidRequest) { r.Amount = 0 }},
		{"amount", func(r *BidRequest) { r.MaxAmount = 500 }},
		{"max_amount", func(r *BidRequest) { r.Amount, r.MaxAmount = 0, -1 }},
	}
	for _, c := range bad {
		r := ok
		c.edit(&r)
		if _, err := r.check(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: err = %v, want ErrInvalid naming it", c.field, err)
		}
	}
	if got := cleanName("Bob\x00\x1b[31m \xff" + strings.Repeat("x", 200)); strings.ContainsAny(got, "\x00\x1b") ||
		len([]rune(got)) != MaxName {
		t.Errorf("cleanName = %q", got)
	}
}

// model is a Go reference of the bid rules (the Lua is the implementation): the property
// tests replay a lot's log through it and compare every entry.
type model struct {
	table        []Increment
	start, price int64
	leader       string
	leaderName   string
	leaderMax    int64
}

// modelEntry is what the model expects a request to log.
type modelEntry struct {
	subject   string
	amount    int64
	accepted  bool
	reason    string
	proxy     bool
	price     int64
	leader    string
	maxAmount int64
}

func (m *model) min() int64 { return MinAmount(m.table, m.start, m.price, m.leader != "") }

// apply is one open-lot request (subject bids amount, or max when max > 0).
func (m *model) apply(subject, name string, amount, max int64) []modelEntry {
	x := amount
	if max > 0 {
		x = max
	}
	refuse := func(code string) []modelEntry {
		return []modelEntry{{subject: subject, amount: amount, maxAmount: max, reason: code, price: m.price, leader: m.leader}}
	}
	mn := m.min()
	if subject == m.leader {
		if max == 0 || max <= m.leaderMax {
			return refuse(CodeAlreadyLeading)
		}
		if max < mn {
			return refuse(CodeTooLow)
		}
		m.leaderMax = max
		return []modelEntry{{subject: subject, amount: m.price, maxAmount: max, accepted: true, price: m.price, leader: m.leader}}
	}
	if x < mn {
		return refuse(CodeTooLow)
	}
	switch {
	case m.leader == "" || x > m.leaderMax:
		np := amount
		if max > 0 {
			np = mn
			if m.leader != "" {
				np = maxInt(mn, minInt(max, m.leaderMax+StepAt(m.table, m.leaderMax)))
			}
		}
		m.price, m.leader, m.leaderName, m.leaderMax = np, subject, name, x
		return []modelEntry{{subject: subject, amount: np, maxAmount: max, accepted: true, price: np, leader: subject}}
	default:
		q := minInt(m.leaderMax, x+StepAt(m.table, x))
		m.price = q
		return []modelEntry{
			{subject: subject, amount: x, maxAmount: max, accepted: true, price: q, leader: m.leader},
			{subject: m.leader, amount: q, accepted: true, proxy: true, price: q, leader: m.leader},
		}
	}
}

func minInt(a, b int64) int64 { return min(a, b) }
func maxInt(a, b int64) int64 { return max(a, b) }

func TestModelExamples(t *testing.T) {
	m := &model{table: DefaultIncrements(), start: 1000, price: 1000}
	steps := []struct {
		who         string
		amount, max int64
		want        []modelEntry
	}{
		{"a", 0, 5000, []modelEntry{{subject: "a", amount: 1000, maxAmount: 5000, accepted: true, price: 1000, leader: "a"}}},
		{"b", 2000, 0, []modelEntry{
			{subject: "b", amount: 2000, accepted: true, price: 2100, leader: "a"},
			{subject: "a", amount: 2100, accepted: true, proxy: true, price: 2100, leader: "a"}}},
		{"b", 0, 5000, []modelEntry{
			{subject: "b", amount: 5000, maxAmount: 5000, accepted: true, price: 5000, leader: "a"},
			{subject: "a", amount: 5000, accepted: true, proxy: true, price: 5000, leader: "a"}}},
		{"b", 0, 9000, []modelEntry{{subject: "b", amount: 5500, maxAmount: 9000, accepted: true, price: 5500, leader: "b"}}},
		{"b", 6000, 0, []modelEntry{{subject: "b", amount: 6000, reason: CodeAlreadyLeading, price: 5500, leader: "b"}}},
		{"a", 5900, 0, []modelEntry{{subject: "a", amount: 5900, reason: CodeTooLow, price: 5500, leader: "b"}}},
	}
	for i, s := range steps {
		got := m.apply(s.who, s.who, s.amount, s.max)
		if len(got) != len(s.want) {
			t.Fatalf("step %d: %+v, want %+v", i, got, s.want)
		}
		for j := range got {
			if got[j] != s.want[j] {
				t.Fatalf("step %d entry %d: %+v, want %+v", i, j, got[j], s.want[j])
			}
		}
	}
}
