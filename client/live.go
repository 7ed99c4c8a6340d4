package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The live client speaks the live family of the /ws protocol (signaling/PROTOCOL.md, "live"):
// join a room, chat, react, bid and run lots, and receive the room's ordered `event` stream.
// It is built for load generation as much as for tests: one read goroutine per socket, a reused
// read buffer, and `event` messages read by a small field walker (live_scan.go) for seq, kind
// and at without decoding their data; OnEvent sees each event on the read goroutine. It tracks
// the last sequence number, gaps (events the stream skipped) and duplicates.

// Errors of the live client.
var (
	// ErrNoLive: the server's hello does not announce the "live" feature.
	ErrNoLive = errors.New("server has no live family (hello features lack \"live\")")
	// ErrNotJoined: the socket has not joined a room.
	ErrNotJoined = errors.New("live socket has not joined a room")
)

// LiveParams configures DialLive.
type LiveParams struct {
	URL   string // server base URL, e.g. http://127.0.0.1:8080
	Token string // relaycast token sent with join (bid, chat, publish grants); "" joins as a guest
	Name  string // display name for a guest (tokens carry their own)
	// ReadBuffer > 0 sets the socket's TCP receive buffer (bytes): a small one makes a paused
	// socket (Pause) stall the server's writes quickly, as a phone on a dead network would.
	ReadBuffer int
	// OnEvent is called on the read goroutine for every new event (duplicates are counted and
	// not delivered); ev.Data is only valid during the call. nil: events go to Events().
	OnEvent func(ev LiveEvent)
	// OnError is called on the read goroutine for `error` messages that answer no waiting
	// request (e.g. a refused chat message).
	OnError     func(err *LiveError)
	EventBuffer int // Events() channel capacity when OnEvent is nil (default 256)
}

// LiveEvent is one `event` message: the room's seq-numbered event (K2 kinds: chat, bid, lot, …).
type LiveEvent struct {
	Seq      int64
	Kind     string
	At       int64           // server time, ms since the Unix epoch
	Data     json.RawMessage // the event's data; with OnEvent only valid during the call
	Received time.Time       // when the read goroutine had the whole message
}

// LiveError is an `error` message of the live family.
type LiveError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Ref       string `json:"ref,omitempty"`
	MinAmount int64  `json:"min_amount,omitempty"`
}

func (e *LiveError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Increment is one row of a lot's increment table: below UpTo (0: no limit) bids rise by Step.
type Increment struct {
	UpTo int64 `json:"up_to"`
	Step int64 `json:"step"`
}

// Lot is an auction lot as the server sends it (docs/AUCTION.md). Money in minor units.
type Lot struct {
	ID            string      `json:"id"`
	Room          string      `json:"room"`
	Title         string      `json:"title"`
	Description   string      `json:"description,omitempty"`
	ImageURL      string      `json:"image_url,omitempty"`
	StartPrice    int64       `json:"start_price"`
	Increments    []Increment `json:"increments,omitempty"`
	DurationS     int         `json:"duration_s"`
	Mode          string      `json:"mode"`
	ExtendWindowS int         `json:"extend_window_s"`
	ExtendToS     int         `json:"extend_to_s"`
	MaxExtensions int         `json:"max_extensions"`
	Status        string      `json:"status"`
	Price         int64       `json:"price"`
	MinAmount     int64       `json:"min_amount"`
	Leader        string      `json:"leader"`
	LeaderName    string      `json:"leader_name"`
	BidCount      int64       `json:"bid_count"`
	EndsAt        int64       `json:"ends_at"`
	ServerTime    int64       `json:"server_time"`
	Winner        string      `json:"winner"`
	WinnerName    string      `json:"winner_name"`
	Extensions    int         `json:"extensions"`
	CreatedAt     int64       `json:"created_at"`
	StartedAt     int64       `json:"started_at"`
	EndedAt       int64       `json:"ended_at"`
}

// LotInput is what lot_create sends.
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

// Bid is one entry of a lot's bid log.
type Bid struct {
	N         int64  `json:"n"`
	LotID     string `json:"lot_id"`
	Subject   string `json:"subject"`
	Name      string `json:"name"`
	Amount    int64  `json:"amount"`
	MaxAmount int64  `json:"max_amount,omitempty"`
	At        int64  `json:"at"`
	Accepted  bool   `json:"accepted"`
	Reason    string `json:"reason,omitempty"`
	Proxy     bool   `json:"proxy"`
	Price     int64  `json:"price"`
	Leader    string `json:"leader"`
}

// BidResult answers a bid. A refusal (too_low, lot_closed, not_open, already_leading) is a
// result with Accepted false, not an error.
type BidResult struct {
	Ref       string        `json:"ref"`
	Accepted  bool          `json:"accepted"`
	Code      string        `json:"code"`
	MinAmount int64         `json:"min_amount"`
	Lot       Lot           `json:"lot"`
	Bid       Bid           `json:"bid"`
	RTT       time.Duration `json:"-"` // bid written → its answer read
}

// You is who the server took the socket for.
type You struct {
	Subject string   `json:"subject"`
	Name    string   `json:"name"`
	Guest   bool     `json:"guest"`
	Grants  []string `json:"grants"`
}

// Joined is the server's answer to join.
type Joined struct {
	Room       string            `json:"room"`
	Seq        int64             `json:"seq"`
	ServerTime int64             `json:"server_time"`
	You        You               `json:"you"`
	Settings   json.RawMessage   `json:"settings"`
	Lot        *Lot              `json:"lot"`
	Lots       []Lot             `json:"lots"`
	Product    json.RawMessage   `json:"product"`
	Chat       []json.RawMessage `json:"chat"`
	Events     []struct {
		Seq  int64           `json:"seq"`
		Kind string          `json:"kind"`
		At   int64           `json:"at"`
		Data json.RawMessage `json:"data"`
	} `json:"events"`
}

// LiveStats are a socket's counters.
type LiveStats struct {
	Messages    int64 // server messages read
	Bytes       int64
	Events      int64 // distinct events delivered (joined.events included)
	LastSeq     int64
	Gaps        int64 // events the stream skipped (sum of seq jumps - 1)
	Dups        int64 // events received again (seq <= the last one)
	Errors      int64 // unanswered `error` messages (OnError)
	Closed      bool  // the socket ended
	CloseCode   int   // the server's close code (0: no close frame)
	CloseReason string
}

// LiveSession is one /ws socket speaking the live family.
type LiveSession struct {
	p         LiveParams
	conn      *websocket.Conn
	feats     []string
	done      chan struct{} // the reader ended
	closing   chan struct{}
	resume    chan struct{}
	events    chan LiveEvent
	wg        sync.WaitGroup
	once      sync.Once
	writeMu   sync.Mutex
	refs      atomic.Int64
	paused    atomic.Bool
	joinAfter atomic.Int64 // the after of the join in progress

	mu       sync.Mutex
	pending  map[string]chan liveReply
	joinWait chan liveReply
	closeErr error

	// Only the reader writes these; Stats reads the atomics.
	started                  bool
	last                     int64
	lastSeq, gaps, dups, nev atomic.Int64
	msgs, bytes, errs        atomic.Int64
	closed                   atomic.Bool
	closeCode                atomic.Int64
	closeReason              atomic.Value // string
	buf                      []byte
}

type liveReply struct {
	typ    string
	data   []byte
	recv   time.Time
	joined *Joined
}

// DialLive opens a socket to p.URL's /ws and waits for a hello announcing the live family.
func DialLive(ctx context.Context, p LiveParams) (*LiveSession, error) {
	u, err := url.Parse(strings.TrimRight(p.URL, "/") + "/ws")
	if err != nil {
		return nil, err
	}
	origin := u.Scheme + "://" + u.Host
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	nd := &net.Dialer{Timeout: 10 * time.Second}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 2048, WriteBufferSize: 1024,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err == nil && p.ReadBuffer > 0 {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetReadBuffer(p.ReadBuffer)
				}
			}
			return c, err
		}}
	conn, _, err := d.DialContext(ctx, u.String(), http.Header{"Origin": {origin}})
	if err != nil {
		return nil, err
	}
	s := &LiveSession{p: p, conn: conn, done: make(chan struct{}), closing: make(chan struct{}), resume: make(chan struct{}, 1),
		pending: map[string]chan liveReply{}, buf: make([]byte, 0, 2048)}
	if p.OnEvent == nil {
		n := p.EventBuffer
		if n <= 0 {
			n = 256
		}
		s.events = make(chan LiveEvent, n)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	} else {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	var hello struct {
		Type     string   `json:"type"`
		Features []string `json:"features"`
	}
	_, data, err := conn.ReadMessage()
	if err == nil {
		err = json.Unmarshal(data, &hello)
	}
	if err == nil && hello.Type != "hello" {
		err = fmt.Errorf("first message is %q", hello.Type)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("no hello from %s: %w", u, err)
	}
	s.feats = hello.Features
	live := false
	for _, f := range hello.Features {
		live = live || f == "live"
	}
	if !live {
		_ = conn.Close()
		return nil, ErrNoLive
	}
	_ = conn.SetReadDeadline(time.Time{})
	s.wg.Add(1)
	go s.read()
	return s, nil
}

// Features are the hello's features.
func (s *LiveSession) Features() []string { return s.feats }

// Done is closed when the socket has ended (the server closed it, or Close).
func (s *LiveSession) Done() <-chan struct{} { return s.done }

// Events delivers events when LiveParams.OnEvent is nil (closed never; select on Done).
func (s *LiveSession) Events() <-chan LiveEvent { return s.events }

// Stats returns the socket's counters.
func (s *LiveSession) Stats() LiveStats {
	st := LiveStats{Messages: s.msgs.Load(), Bytes: s.bytes.Load(), Events: s.nev.Load(), LastSeq: s.lastSeq.Load(),
		Gaps: s.gaps.Load(), Dups: s.dups.Load(), Errors: s.errs.Load(), Closed: s.closed.Load(), CloseCode: int(s.closeCode.Load())}
	st.CloseReason, _ = s.closeReason.Load().(string)
	return st
}

// Pause stops reading (after the message being read, if any) until Resume: the socket's
// kernel buffers fill and the server sees a slow client. Pongs stop too.
func (s *LiveSession) Pause() {
	select {
	case <-s.resume:
	default:
	}
	s.paused.Store(true)
}

// Resume reads again after Pause. A socket dialled with a small ReadBuffer gets a large one
// back, so that what the kernel held drains at once (a tiny receive window would make the
// sender wait on TCP's zero-window probes, seconds apart).
func (s *LiveSession) Resume() {
	if s.p.ReadBuffer > 0 {
		if tc, ok := s.conn.UnderlyingConn().(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(1 << 20)
		}
	}
	s.paused.Store(false)
	select {
	case s.resume <- struct{}{}:
	default:
	}
}

func (s *LiveSession) read() {
	defer s.wg.Done()
	defer close(s.done)
	for {
		if s.paused.Load() {
			select {
			case <-s.resume:
			case <-s.closing:
				s.ended(ErrWSClosed)
				return
			}
		}
		_, r, err := s.conn.NextReader()
		if err == nil {
			s.buf, err = readInto(r, s.buf[:0])
		}
		if err != nil {
			s.ended(err)
			return
		}
		s.msgs.Add(1)
		s.bytes.Add(int64(len(s.buf)))
		s.handle(s.buf, time.Now())
	}
}

// readInto appends all of r to buf, growing it only when a message is larger than any before.
func readInto(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (s *LiveSession) ended(err error) {
	s.closed.Store(true)
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		s.closeCode.Store(int64(ce.Code))
		s.closeReason.Store(ce.Text)
	}
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
}

func (s *LiveSession) handle(b []byte, now time.Time) {
	var typ, kind, data, ref []byte
	var seq, at int64
	if !eachField(b, func(k, v []byte) bool {
		switch string(k) {
		case "type":
			typ = rawString(v)
		case "seq":
			seq = rawInt(v)
		case "kind":
			kind = rawString(v)
		case "at":
			at = rawInt(v)
		case "data":
			data = v
		case "ref":
			ref = rawString(v)
		}
		return true
	}) {
		return
	}
	switch string(typ) {
	case "event":
		s.onEvent(seq, kind, at, data, now)
	case "joined":
		var j Joined
		if err := json.Unmarshal(b, &j); err != nil {
			return
		}
		s.onJoined(&j, now)
		s.deliver("", liveReply{typ: "joined", recv: now, joined: &j})
	case "bid_result", "lot_result", "ok", "error":
		rep := liveReply{typ: string(typ), data: append([]byte(nil), b...), recv: now}
		if !s.deliver(string(ref), rep) && rep.typ == "error" {
			s.errs.Add(1)
			if s.p.OnError != nil {
				var e LiveError
				if json.Unmarshal(b, &e) == nil {
					s.p.OnError(&e)
				}
			}
		}
	}
}

// deliver hands a reply to the request waiting for ref (join: ref "" and a join in progress).
func (s *LiveSession) deliver(ref string, rep liveReply) bool {
	s.mu.Lock()
	var ch chan liveReply
	if ref != "" {
		ch = s.pending[ref]
		delete(s.pending, ref)
	} else if s.joinWait != nil && (rep.typ == "joined" || rep.typ == "error") {
		ch, s.joinWait = s.joinWait, nil
	}
	s.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- rep
	return true
}

func (s *LiveSession) onJoined(j *Joined, now time.Time) {
	after := s.joinAfter.Load()
	s.started, s.last = true, after
	if after == 0 { // a fresh join: the stream starts after the snapshot
		s.last = j.Seq
		s.lastSeq.Store(j.Seq)
		return
	}
	for _, e := range j.Events {
		s.onEvent(e.Seq, []byte(e.Kind), e.At, e.Data, now)
	}
	if j.Seq > s.last { // the server sent a snapshot instead of every event missed
		s.gaps.Add(j.Seq - s.last)
		s.last = j.Seq
		s.lastSeq.Store(j.Seq)
	}
}

func (s *LiveSession) onEvent(seq int64, kind []byte, at int64, data []byte, now time.Time) {
	switch {
	case !s.started:
		s.started = true
	case seq <= s.last:
		s.dups.Add(1)
		return
	case seq > s.last+1:
		s.gaps.Add(seq - s.last - 1)
	}
	s.last = seq
	s.lastSeq.Store(seq)
	s.nev.Add(1)
	ev := LiveEvent{Seq: seq, Kind: eventKind(kind), At: at, Data: data, Received: now}
	if s.p.OnEvent != nil {
		s.p.OnEvent(ev)
		return
	}
	ev.Data = append(json.RawMessage(nil), data...)
	select {
	case s.events <- ev:
	case <-s.closing:
	}
}

// eventKind returns the kind as a string, without allocating for the kinds of the protocol.
func eventKind(b []byte) string {
	switch string(b) {
	case "chat":
		return "chat"
	case "bid":
		return "bid"
	case "lot":
		return "lot"
	case "reactions":
		return "reactions"
	case "chat.deleted":
		return "chat.deleted"
	case "product":
		return "product"
	case "room.settings":
		return "room.settings"
	}
	return string(b)
}

func (s *LiveSession) write(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.conn.WriteMessage(websocket.TextMessage, data)
}

// request writes v (whose ref is ref) and waits for the reply to ref.
func (s *LiveSession) request(ctx context.Context, ref string, v any) (liveReply, time.Time, error) {
	ch := make(chan liveReply, 1)
	s.mu.Lock()
	if ref == "" {
		s.joinWait = ch
	} else {
		s.pending[ref] = ch
	}
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		if ref == "" {
			if s.joinWait == ch {
				s.joinWait = nil
			}
		} else {
			delete(s.pending, ref)
		}
		s.mu.Unlock()
	}
	sent := time.Now()
	if err := s.write(v); err != nil {
		forget()
		return liveReply{}, sent, err
	}
	select {
	case rep := <-ch:
		return rep, sent, nil
	case <-s.done:
		forget()
		return liveReply{}, sent, ErrWSClosed
	case <-ctx.Done():
		forget()
		return liveReply{}, sent, ctx.Err()
	}
}

func (s *LiveSession) nextRef() string { return "r" + strconv.FormatInt(s.refs.Add(1), 10) }

func replyError(rep liveReply) error {
	var e LiveError
	if err := json.Unmarshal(rep.data, &e); err != nil {
		return fmt.Errorf("bad error message: %w", err)
	}
	return &e
}

// Join joins room (after: the last seq seen, 0 for a fresh join) and returns the snapshot.
// Events after the snapshot follow through OnEvent / Events.
func (s *LiveSession) Join(ctx context.Context, room string, after int64) (*Joined, error) {
	msg := struct {
		Type  string `json:"type"`
		Room  string `json:"room"`
		Token string `json:"token,omitempty"`
		Name  string `json:"name,omitempty"`
		After int64  `json:"after,omitempty"`
	}{"join", room, s.p.Token, s.p.Name, after}
	s.joinAfter.Store(after)
	rep, _, err := s.request(ctx, "", msg)
	if err != nil {
		return nil, err
	}
	if rep.typ == "error" {
		return nil, replyError(rep)
	}
	return rep.joined, nil
}

// Leave leaves the room.
func (s *LiveSession) Leave() error {
	return s.write(struct {
		Type string `json:"type"`
	}{"leave"})
}

// Chat sends a chat message. The server answers only refusals (OnError, with the returned ref);
// the message itself comes back as a `chat` event.
func (s *LiveSession) Chat(text string) (ref string, err error) {
	ref = s.nextRef()
	return ref, s.write(struct {
		Type string `json:"type"`
		Text string `json:"text"`
		Ref  string `json:"ref"`
	}{"chat", text, ref})
}

// React sends a reaction (heart, fire, clap, wow, laugh).
func (s *LiveSession) React(kind string) error {
	return s.write(struct {
		Type string `json:"type"`
		Kind string `json:"kind"`
	}{"react", kind})
}

// refusals are the bid refusal codes: a BidResult, not an error, even when sent as `error`.
var refusals = map[string]bool{"too_low": true, "lot_closed": true, "not_open": true, "already_leading": true}

// Bid bids amount (or a proxy maximum maxAmount; give one of the two) on lotID and waits for
// the bid_result.
func (s *LiveSession) Bid(ctx context.Context, lotID string, amount, maxAmount int64) (BidResult, error) {
	ref := s.nextRef()
	msg := struct {
		Type      string `json:"type"`
		LotID     string `json:"lot_id"`
		Amount    int64  `json:"amount,omitempty"`
		MaxAmount int64  `json:"max_amount,omitempty"`
		Ref       string `json:"ref"`
	}{"bid", lotID, amount, maxAmount, ref}
	rep, sent, err := s.request(ctx, ref, msg)
	if err != nil {
		return BidResult{}, err
	}
	var res BidResult
	switch rep.typ {
	case "bid_result":
		if err := json.Unmarshal(rep.data, &res); err != nil {
			return BidResult{}, fmt.Errorf("bad bid_result: %w", err)
		}
	case "error":
		err := replyError(rep)
		var le *LiveError
		if !errors.As(err, &le) || !refusals[le.Code] {
			return BidResult{}, err
		}
		res = BidResult{Ref: ref, Code: le.Code, MinAmount: le.MinAmount}
	default:
		return BidResult{}, fmt.Errorf("unexpected %q answering a bid", rep.typ)
	}
	res.RTT = rep.recv.Sub(sent)
	return res, nil
}

func (s *LiveSession) lotOp(ctx context.Context, typ string, fields map[string]any) (Lot, error) {
	ref := s.nextRef()
	fields["type"], fields["ref"] = typ, ref
	rep, _, err := s.request(ctx, ref, fields)
	if err != nil {
		return Lot{}, err
	}
	switch rep.typ {
	case "lot_result":
		var r struct {
			Lot Lot `json:"lot"`
		}
		if err := json.Unmarshal(rep.data, &r); err != nil {
			return Lot{}, fmt.Errorf("bad lot_result: %w", err)
		}
		return r.Lot, nil
	case "error":
		return Lot{}, replyError(rep)
	}
	return Lot{}, fmt.Errorf("unexpected %q answering %s", rep.typ, typ)
}

// LotCreate queues a lot (publish grant).
func (s *LiveSession) LotCreate(ctx context.Context, in LotInput) (Lot, error) {
	return s.lotOp(ctx, "lot_create", map[string]any{"lot": in})
}

// LotStart opens a queued lot.
func (s *LiveSession) LotStart(ctx context.Context, id string) (Lot, error) {
	return s.lotOp(ctx, "lot_start", map[string]any{"lot_id": id})
}

// LotEnd ends an open lot now.
func (s *LiveSession) LotEnd(ctx context.Context, id string) (Lot, error) {
	return s.lotOp(ctx, "lot_end", map[string]any{"lot_id": id})
}

// LotCancel cancels a lot before its first bid.
func (s *LiveSession) LotCancel(ctx context.Context, id string) (Lot, error) {
	return s.lotOp(ctx, "lot_cancel", map[string]any{"lot_id": id})
}

// Close closes the socket and waits for its reader.
func (s *LiveSession) Close() error {
	s.once.Do(func() {
		close(s.closing)
		s.writeMu.Lock()
		_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		s.writeMu.Unlock()
		_ = s.conn.Close()
		s.wg.Wait()
	})
	return nil
}
