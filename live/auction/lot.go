package auction

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Money is an int64 number of minor units (cents) everywhere.

// MaxMoney is the largest price, start price, bid or step (10^12 minor units).
const MaxMoney int64 = 1_000_000_000_000

// Lot modes.
const (
	ModeStandard    = "standard"     // anti-sniping extensions on
	ModeSuddenDeath = "sudden_death" // the lot ends at ends_at, no extension ever
)

// Lot statuses.
const (
	StatusQueued    = "queued"
	StatusOpen      = "open"
	StatusSold      = "sold"
	StatusUnsold    = "unsold"
	StatusCancelled = "cancelled"
)

// Refusal codes of BidResult.Code (and Bid.Reason).
const (
	CodeTooLow         = "too_low"         // below min_amount
	CodeLotClosed      = "lot_closed"      // the lot has ended (or its ends_at has passed) or was cancelled
	CodeNotOpen        = "not_open"        // the lot is queued, not started yet
	CodeAlreadyLeading = "already_leading" // a plain bid (or a max not above the own max) by the leader
)

// Input limits and defaults.
const (
	MaxTitle          = 200  // runes
	MaxDescription    = 2000 // runes
	MaxImageURL       = 2048 // bytes
	MinDurationS      = 5
	MaxDurationS      = 3600
	MaxExtendS        = 600 // extend_window_s and extend_to_s
	MaxMaxExtensions  = 1000
	MaxIncrementTiers = 32
	MaxName           = 100 // runes of a bidder's display name (longer ones are cut)
	MaxSubject        = 256 // bytes
	DefaultExtendS    = 10  // extend_window_s and extend_to_s when 0
)

// Increment is one tier of a lot's increment table: while the price is below UpTo, the next
// valid bid is at least price + Step. The last tier has UpTo 0 and covers every higher price.
type Increment struct {
	UpTo int64 `json:"up_to"`
	Step int64 `json:"step"`
}

// DefaultIncrements is the increment table of a lot created without one (minor units:
// +1.00 below 30.00, +2.00 below 50.00, +5.00 below 100.00, +10.00 below 300.00, +25.00 below
// 1,000.00, +50.00 below 3,000.00, +100.00 from 3,000.00 on).
func DefaultIncrements() []Increment {
	return []Increment{
		{UpTo: 3000, Step: 100},
		{UpTo: 5000, Step: 200},
		{UpTo: 10000, Step: 500},
		{UpTo: 30000, Step: 1000},
		{UpTo: 100000, Step: 2500},
		{UpTo: 300000, Step: 5000},
		{UpTo: 0, Step: 10000},
	}
}

// StepAt is the increment over price in table: the Step of the first tier with price < UpTo
// (or UpTo 0).
func StepAt(table []Increment, price int64) int64 {
	for _, t := range table {
		if t.UpTo == 0 || price < t.UpTo {
			return t.Step
		}
	}
	return 1 // unreachable for a validated table (its last tier has UpTo 0)
}

// OpeningAmount is the smallest valid first bid: the start price, or one increment when the
// lot starts at 0.
func OpeningAmount(table []Increment, startPrice int64) int64 {
	if startPrice > 0 {
		return startPrice
	}
	return StepAt(table, 0)
}

// MinAmount is the smallest valid bid on a lot whose price is price: OpeningAmount before the
// first bid, price + StepAt(price) after it. Any amount >= MinAmount is valid.
func MinAmount(table []Increment, startPrice, price int64, hasBid bool) int64 {
	if !hasBid {
		return OpeningAmount(table, startPrice)
	}
	return price + StepAt(table, price)
}

// LotInput is a new lot (Create). Zero values take the defaults: mode standard,
// extend_window_s and extend_to_s 10, increments DefaultIncrements, max_extensions 0
// (unlimited). A lot without extensions is mode sudden_death.
type LotInput struct {
	Title         string      `json:"title"`
	Description   string      `json:"description,omitempty"`
	ImageURL      string      `json:"image_url,omitempty"`
	StartPrice    int64       `json:"start_price"`
	Increments    []Increment `json:"increments,omitempty"`
	DurationS     int         `json:"duration_s"`
	Mode          string      `json:"mode,omitempty"`
	ExtendWindowS int         `json:"extend_window_s,omitempty"`
	ExtendToS     int         `json:"extend_to_s,omitempty"`
	MaxExtensions int         `json:"max_extensions,omitempty"`
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Normalize validates in and fills in its defaults. Errors wrap ErrInvalid and name the field.
func (in LotInput) Normalize() (LotInput, error) {
	switch {
	case !utf8.ValidString(in.Title):
		return in, invalid("title", "not UTF-8")
	case strings.TrimSpace(in.Title) == "":
		return in, invalid("title", "required")
	case utf8.RuneCountInString(in.Title) > MaxTitle:
		return in, invalid("title", "longer than %d characters", MaxTitle)
	case strings.IndexFunc(in.Title, unicode.IsControl) >= 0:
		return in, invalid("title", "control characters")
	case !utf8.ValidString(in.Description):
		return in, invalid("description", "not UTF-8")
	case utf8.RuneCountInString(in.Description) > MaxDescription:
		return in, invalid("description", "longer than %d characters", MaxDescription)
	case strings.IndexFunc(in.Description, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	}) >= 0:
		return in, invalid("description", "control characters")
	case in.StartPrice < 0 || in.StartPrice > MaxMoney:
		return in, invalid("start_price", "must be 0..%d minor units", MaxMoney)
	case in.DurationS < MinDurationS || in.DurationS > MaxDurationS:
		return in, invalid("duration_s", "must be %d..%d", MinDurationS, MaxDurationS)
	case in.ExtendWindowS < 0 || in.ExtendWindowS > MaxExtendS:
		return in, invalid("extend_window_s", "must be 0..%d", MaxExtendS)
	case in.ExtendToS < 0 || in.ExtendToS > MaxExtendS:
		return in, invalid("extend_to_s", "must be 0..%d", MaxExtendS)
	case in.MaxExtensions < 0 || in.MaxExtensions > MaxMaxExtensions:
		return in, invalid("max_extensions", "must be 0..%d", MaxMaxExtensions)
	}
	if err := checkImageURL(in.ImageURL); err != nil {
		return in, err
	}
	switch in.Mode {
	case "":
		in.Mode = ModeStandard
	case ModeStandard, ModeSuddenDeath:
	default:
		return in, invalid("mode", "must be %q or %q", ModeStandard, ModeSuddenDeath)
	}
	if in.ExtendWindowS == 0 {
		in.ExtendWindowS = DefaultExtendS
	}
	if in.ExtendToS == 0 {
		in.ExtendToS = DefaultExtendS
	}
	if len(in.Increments) == 0 {
		in.Increments = DefaultIncrements()
	} else {
		if err := CheckIncrements(in.Increments); err != nil {
			return in, err
		}
		in.Increments = append([]Increment(nil), in.Increments...)
	}
	return in, nil
}

func checkImageURL(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxImageURL {
		return invalid("image_url", "longer than %d bytes", MaxImageURL)
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return invalid("image_url", "spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid("image_url", "not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("image_url", "must be an http(s) URL")
	}
	return nil
}

// CheckIncrements validates an increment table: 1..MaxIncrementTiers tiers, steps 1..MaxMoney,
// up_to strictly increasing, the last (and only the last) tier with up_to 0.
func CheckIncrements(table []Increment) error {
	if len(table) == 0 || len(table) > MaxIncrementTiers {
		return invalid("increments", "1..%d tiers", MaxIncrementTiers)
	}
	var prev int64
	for i, t := range table {
		last := i == len(table)-1
		switch {
		case t.Step <= 0 || t.Step > MaxMoney:
			return invalid("increments", "tier %d: step must be 1..%d", i+1, MaxMoney)
		case last && t.UpTo != 0:
			return invalid("increments", "the last tier must have up_to 0 (every higher price)")
		case !last && (t.UpTo <= prev || t.UpTo > MaxMoney):
			return invalid("increments", "tier %d: up_to must grow, 1..%d", i+1, MaxMoney)
		}
		prev = t.UpTo
	}
	return nil
}

// Lot is a lot as the clients see it (K3). Every Lot returned by the engine carries
// ServerTime (the Redis server's clock when it was read) and MinAmount (the next valid bid).
// Its first fields (lotStatic: ID … MaxExtensions) never change after Create.
type Lot struct {
	lotStatic
	Status     string  `json:"status"`
	Price      int64   `json:"price"`      // start_price before the first bid
	MinAmount  int64   `json:"min_amount"` // the next valid bid
	Leader     *string `json:"leader"`     // subject, null before the first bid
	LeaderName string  `json:"leader_name"`
	BidCount   int     `json:"bid_count"` // accepted bid log entries (proxy bids included)
	EndsAt     int64   `json:"ends_at"`   // ms; 0 while queued
	ServerTime int64   `json:"server_time"`
	Winner     *string `json:"winner"` // subject, set when sold
	WinnerName string  `json:"winner_name"`
	Extensions int     `json:"extensions"`
	CreatedAt  int64   `json:"created_at"`
	StartedAt  int64   `json:"started_at"`
	EndedAt    int64   `json:"ended_at"`
}

// lotStatic is the part of a Lot that never changes after Create; its fields are promoted
// into Lot (and its JSON).
type lotStatic struct {
	ID            string      `json:"id"`
	Room          string      `json:"room"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	ImageURL      string      `json:"image_url"`
	StartPrice    int64       `json:"start_price"`
	Increments    []Increment `json:"increments"`
	DurationS     int         `json:"duration_s"`
	Mode          string      `json:"mode"`
	ExtendWindowS int         `json:"extend_window_s"`
	ExtendToS     int         `json:"extend_to_s"`
	MaxExtensions int         `json:"max_extensions"`
}

// Bid is one entry of a lot's bid log: every bid request, accepted or not, and every bid the
// engine makes for a max holder (Proxy). Amount is what the entry bids: the amount of a plain
// bid; for a max bid the price it set, or its whole max when a standing max beat it; 0 for a
// refused max bid. MaxAmount is only in the log (Bids, OnSettled), never in events.
type Bid struct {
	N         int64   `json:"n"`
	LotID     string  `json:"lot_id"`
	Subject   string  `json:"subject"`
	Name      string  `json:"name"`
	Amount    int64   `json:"amount"`
	MaxAmount int64   `json:"max_amount,omitempty"`
	At        int64   `json:"at"`
	Accepted  bool    `json:"accepted"`
	Reason    string  `json:"reason,omitempty"`
	Proxy     bool    `json:"proxy"`
	Price     int64   `json:"price"`  // the lot's price after the request
	Leader    *string `json:"leader"` // the leader after the request
}

// BidRequest is a bid: exactly one of Amount (a plain bid) or MaxAmount (a max, or proxy,
// bid: the engine bids for the holder up to it). There is no time in it: the server's clock
// decides.
type BidRequest struct {
	Room      string `json:"room"`
	LotID     string `json:"lot_id"`
	Subject   string `json:"subject"`
	Name      string `json:"name"`
	Amount    int64  `json:"amount,omitempty"`
	MaxAmount int64  `json:"max_amount,omitempty"`
}

// BidResult is the answer to a bid. A refusal is not an error: Accepted false, Code one of
// the Code* constants, MinAmount the next valid amount. Bid is the request's log entry.
type BidResult struct {
	Accepted  bool   `json:"accepted"`
	Code      string `json:"code,omitempty"`
	MinAmount int64  `json:"min_amount"`
	Lot       Lot    `json:"lot"`
	Bid       Bid    `json:"bid"`
}

// check validates r (ErrInvalid naming the field) and returns the display name to log.
func (r BidRequest) check() (string, error) {
	switch {
	case r.Room == "":
		return "", invalid("room", "required")
	case r.LotID == "":
		return "", invalid("lot_id", "required")
	case r.Subject == "" || len(r.Subject) > MaxSubject || !utf8.ValidString(r.Subject):
		return "", invalid("subject", "required, UTF-8, at most %d bytes", MaxSubject)
	case r.Amount < 0 || r.Amount > MaxMoney:
		return "", invalid("amount", "must be 1..%d", MaxMoney)
	case r.MaxAmount < 0 || r.MaxAmount > MaxMoney:
		return "", invalid("max_amount", "must be 1..%d", MaxMoney)
	case (r.Amount == 0) == (r.MaxAmount == 0):
		return "", invalid("amount", "exactly one of amount and max_amount")
	}
	return cleanName(r.Name), nil
}

// cleanName makes a display name safe to store: valid UTF-8, no control characters, at most
// MaxName runes.
func cleanName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > MaxName {
		s = string([]rune(s)[:MaxName])
	}
	return s
}

// staticJSON is the part of a lot's JSON that never changes after Create, without its braces
// (the scripts add the changing fields).
func staticJSON(id, room string, in LotInput) (string, error) {
	b, err := json.Marshal(lotStatic{id, room, in.Title, in.Description, in.ImageURL, in.StartPrice,
		in.Increments, in.DurationS, in.Mode, in.ExtendWindowS, in.ExtendToS, in.MaxExtensions})
	if err != nil {
		return "", err
	}
	return string(b[1 : len(b)-1]), nil
}

// incrementsLua is the table in the compact form the scripts parse: "up_to:step,…".
func incrementsLua(table []Increment) string {
	var b strings.Builder
	for i, t := range table {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d", t.UpTo, t.Step)
	}
	return b.String()
}
