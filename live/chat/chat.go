// Package chat is the live room's chat: messages, moderation (delete, time-out, ban), the room's
// chat settings (slow mode, links, guest chat), the pinned product and aggregated reactions.
//
// A chat message is a room event of live/stream (kind "chat", id = its seq): one Lua script checks
// the sender (ban, time-out, guest chat, links, slow mode, rate limit, all against Redis TIME),
// sequences the event and stores the message in the room's chat history, atomically. So the chat
// has one total order per room, the same on every node, and a refused message changes nothing.
// Rules, limits, codes and keys: docs/CHAT.md.
package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/live/stream"
)

// Params configures a Service. Zero values take the documented defaults.
type Params struct {
	Redis  redis.UniversalClient
	Log    *stream.Log // the rooms' event streams; chat keys live under its prefix
	Logger *slog.Logger
	// Rate messages per Per per user and room (default 3 per 2 s).
	Rate int
	Per  time.Duration
	// FloodTimeout is the automatic time-out of a user who keeps sending while rate limited
	// (default 30 s): FloodAfter (default 3) refusals within Per.
	FloodTimeout time.Duration
	FloodAfter   int
	// MaxBytes is the longest message in bytes (default 2048).
	MaxBytes int
	// Keep is the length of a room's chat history (default 500 messages).
	Keep int
	// ReactRate is how many reactions one user may send per second in a room (default 10).
	ReactRate int
	// FlushEvery is the period of the aggregated reactions event (default 500 ms).
	FlushEvery time.Duration
}

// Defaults of Params.
const (
	DefaultRate         = 3
	DefaultPer          = 2 * time.Second
	DefaultFloodTimeout = 30 * time.Second
	DefaultFloodAfter   = 3
	DefaultMaxBytes     = 2048
	DefaultKeep         = 500
	DefaultReactRate    = 10
	DefaultFlushEvery   = 500 * time.Millisecond
	DefaultHistory      = 50 // History's limit when limit <= 0
)

// Sender is who sends a message, as the room layer authenticated them.
type Sender struct {
	Subject   string // token subject, or "guest:<random>"
	Name      string // display name (checked with ValidName)
	Guest     bool   // no token: refused when the room has guest_chat off
	Moderator bool   // moderate grant: exempt from slow mode, links off and the flood time-out
	Role      string // "", "seller" or "moderator" (shown beside the name); a role also exempts
}

// Message is one chat message: the data of a "chat" event. ID is the event's seq.
type Message struct {
	ID      int64  `json:"id"`
	Subject string `json:"subject"`
	Name    string `json:"name"`
	Text    string `json:"text"`
	At      int64  `json:"at"` // server time, ms since the epoch
	Guest   bool   `json:"guest,omitempty"`
	Role    string `json:"role,omitempty"`
}

// Settings are a room's chat settings (the data of a "room.settings" event).
type Settings struct {
	SlowModeS int  `json:"slow_mode_s"` // 0 (off) .. 600: one message per user per this many seconds
	Links     bool `json:"links"`       // false: messages with URLs are refused (links_off)
	GuestChat bool `json:"guest_chat"`  // false: guests cannot chat (guests_off)
}

// DefaultSettings are a room's settings until a moderator changes them.
func DefaultSettings() Settings { return Settings{SlowModeS: 0, Links: true, GuestChat: true} }

// Service is the chat of every room on this node. Safe for concurrent use.
type Service struct {
	p    Params
	rdb  redis.UniversalClient
	log  *stream.Log
	lg   *slog.Logger
	pfx  string
	scr  scripts
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	counts map[string]map[string]int64 // room → kind → reactions since the last flush
	react  map[string]*bucket          // room + "\x00" + subject → reaction limit
}

// New builds a Service and starts its reactions flusher; Close stops it.
func New(p Params) (*Service, error) {
	if p.Redis == nil || p.Log == nil {
		return nil, fmt.Errorf("%w: chat needs Redis and the stream Log", ErrInvalid)
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&p.Rate, DefaultRate)
	defd(&p.Per, DefaultPer)
	defd(&p.FloodTimeout, DefaultFloodTimeout)
	def(&p.FloodAfter, DefaultFloodAfter)
	def(&p.MaxBytes, DefaultMaxBytes)
	def(&p.Keep, DefaultKeep)
	def(&p.ReactRate, DefaultReactRate)
	defd(&p.FlushEvery, DefaultFlushEvery)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		p: p, rdb: p.Redis, log: p.Log, lg: p.Logger.With("component", "chat"), pfx: p.Log.Prefix(),
		ctx: ctx, stop: cancel,
		counts: map[string]map[string]int64{}, react: map[string]*bucket{},
	}
	s.scr = newScripts(p.Log)
	s.wg.Add(1)
	go s.flushLoop()
	return s, nil
}

// Close stops the reactions flusher after a last flush and waits for it. Idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	return nil
}

func (s *Service) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// key is a chat key of a room, in the layout of every live package: <prefix>:{<room>}:<suffix>.
func (s *Service) key(room, suffix string) string { return s.log.Key(room, suffix) }

// jstr is the JSON encoding of s, without HTML escaping (the text is stored as given).
func jstr(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return string(bytes.TrimRight(b.Bytes(), "\n"))
}

// jval is the JSON of v, without HTML escaping.
func jval(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b.Bytes(), "\n")), nil
}
