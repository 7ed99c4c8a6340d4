// Package webhook tells a host shop what happened, as signed HTTP POSTs delivered through the
// asynq queue: at least once, retried with exponential backoff, each event enqueued once per
// receiver URL however many times (and on however many nodes) it is sent. docs/WEBHOOKS.md is
// the receiver's side of it.
//
// Body:    {"id","type","created_at" (ms since the epoch),"data"}
// Headers: Content-Type: application/json, User-Agent: relaycast-webhook/1,
// X-Relaycast-Event (type), X-Relaycast-Delivery and Idempotency-Key (id),
// X-Relaycast-Signature: sha256=<hex HMAC-SHA256(secret, body bytes)>.
package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// Event types.
const (
	TypeLotWon         = "lot.won"         // a lot was sold: data is the lot, with its winner and price
	TypeLotEnded       = "lot.ended"       // a lot ended (sold, unsold or cancelled): data is the lot
	TypeRoomLive       = "room.live"       // a broadcast started
	TypeRoomEnded      = "room.ended"      // a broadcast ended
	TypeRecordingReady = "recording.ready" // a recording's VOD is ready: data is the recording
)

// TaskType is the asynq task type of one delivery; Queue is the queue of deliveries.
const (
	TaskType = "relaycast:webhook"
	Queue    = "webhooks"
)

// Defaults of Params.
const (
	DefaultConcurrency = 4
	DefaultMaxRetry    = 12
	DefaultTimeout     = 10 * time.Second
	DefaultRetention   = 7 * 24 * time.Hour
	// MaxIDBytes bounds an event id (it is sent as a header).
	MaxIDBytes = 256
)

// DefaultRetryDelay is 5 s · 2^n after the n-th failed attempt (n from 0), capped at 1 h: 5 s,
// 10 s, 20 s … 42 min 40 s, then 1 h. With DefaultMaxRetry (13 attempts in all) the last attempt
// comes about 3 h 25 min after the first.
func DefaultRetryDelay(n int) time.Duration {
	return min(time.Hour, 5*time.Second<<min(max(n, 0), 10))
}

// Params configures a Sender. Redis, URLs and Secret are required; the rest have defaults.
type Params struct {
	Redis  asynq.RedisConnOpt
	URLs   []string // http(s) receivers; every event goes to each
	Secret string   // HMAC-SHA256 key, at least 16 bytes
	// AllowPrivate lets deliveries connect to loopback, private, link-local and reserved
	// addresses. Without it every address is checked when its connection is dialed (redirects are
	// not followed), so DNS answers that change later (rebinding) are covered.
	AllowPrivate bool
	Logger       *slog.Logger

	// Concurrency is the number of deliveries at once on this node (default 4).
	Concurrency int
	// MaxRetry is the number of retries after the first attempt (default 12).
	MaxRetry int
	// RetryDelay is the wait after the n-th failed attempt (default DefaultRetryDelay; tests
	// shorten it).
	RetryDelay func(n int) time.Duration
	// Timeout bounds one attempt, connect to last byte (default 10 s).
	Timeout time.Duration
	// Retention is how long a delivered event's id is remembered, so that sending it again is
	// a no-op (default 7 days).
	Retention time.Duration
	// PollInterval is how often an idle Sender looks for due deliveries (default 1 s).
	PollInterval time.Duration
	// ShutdownTimeout bounds how long Close waits for deliveries in flight; one cut short is
	// delivered again later (default 5 s).
	ShutdownTimeout time.Duration
}

// Sender enqueues events and delivers them (its own asynq server on queue Queue).
type Sender struct {
	p       Params
	log     *slog.Logger
	urls    map[string]bool
	client  *asynq.Client
	srv     *asynq.Server
	http    *http.Client
	metrics *prometheus.CounterVec

	mu     sync.RWMutex
	closed bool
	once   sync.Once
}

// New checks p, connects to Redis and starts delivering (also what an earlier Sender on the
// same Redis left queued). Close stops it.
func New(p Params) (*Sender, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	p.setDefaults()
	s := &Sender{p: p, log: p.Logger.With("component", "webhook"), urls: map[string]bool{}}
	for _, u := range p.URLs {
		s.urls[u] = true
	}
	s.metrics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relaycast_webhook_deliveries_total",
		Help: "Webhook delivery attempts by result: delivered (2xx), failed (retried later), gave_up (410, refused address, retries exhausted, URL no longer configured).",
	}, []string{"result"})
	for _, r := range []string{resultDelivered, resultFailed, resultGaveUp} {
		s.metrics.WithLabelValues(r)
	}
	s.http = newHTTPClient(p.AllowPrivate)
	s.client = asynq.NewClient(p.Redis)
	s.srv = asynq.NewServer(p.Redis, asynq.Config{
		Concurrency:              p.Concurrency,
		Queues:                   map[string]int{Queue: 1},
		TaskCheckInterval:        p.PollInterval,
		DelayedTaskCheckInterval: p.PollInterval,
		ShutdownTimeout:          p.ShutdownTimeout,
		Logger:                   asynqLogger{s.log},
		LogLevel:                 asynq.WarnLevel,
		RetryDelayFunc:           func(n int, _ error, _ *asynq.Task) time.Duration { return p.RetryDelay(n) },
	})
	if err := s.srv.Ping(); err != nil {
		_ = s.client.Close()
		return nil, fmt.Errorf("webhook: redis: %w", err)
	}
	mux := asynq.NewServeMux()
	mux.HandleFunc(TaskType, s.process)
	if err := s.srv.Start(mux); err != nil {
		_ = s.client.Close()
		return nil, fmt.Errorf("webhook: start: %w", err)
	}
	return s, nil
}

func (p Params) check() error {
	if p.Redis == nil {
		return fmt.Errorf("%w: no Redis", ErrInvalid)
	}
	if len(p.URLs) == 0 {
		return fmt.Errorf("%w: no URL", ErrInvalid)
	}
	for _, raw := range p.URLs {
		if err := CheckURL(raw); err != nil {
			return err
		}
	}
	if len(p.Secret) < 16 {
		return fmt.Errorf("%w: the secret must be at least 16 bytes, got %d", ErrInvalid, len(p.Secret))
	}
	return nil
}

// CheckURL accepts an http(s)://host[:port][/path][?query] receiver URL.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" ||
		strings.ContainsAny(raw, " \t\r\n") {
		return fmt.Errorf("%w: %q is not an http(s) URL", ErrInvalid, redact(raw))
	}
	return nil
}

func (p *Params) setDefaults() {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.MaxRetry <= 0 {
		p.MaxRetry = DefaultMaxRetry
	}
	if p.RetryDelay == nil {
		p.RetryDelay = DefaultRetryDelay
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.Retention <= 0 {
		p.Retention = DefaultRetention
	}
	if p.PollInterval <= 0 {
		p.PollInterval = time.Second
	}
	if p.ShutdownTimeout <= 0 {
		p.ShutdownTimeout = 5 * time.Second
	}
}

// Body is the JSON body of every delivery.
type Body struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt int64           `json:"created_at"` // ms since the Unix epoch, when it was first sent
	Data      json.RawMessage `json:"data"`
}

// payload is a task's: the exact body bytes, so every attempt sends (and signs) the same bytes.
type payload struct {
	URL  string `json:"url"`
	Type string `json:"type"`
	ID   string `json:"id"`
	Body []byte `json:"body"`
}

// TaskID is the asynq task id of event id's delivery to url: the same pair is enqueued once.
func TaskID(id, url string) string {
	h := sha256.Sum256([]byte(id + "\x00" + url))
	return "webhook:" + hex.EncodeToString(h[:20])
}

// Send enqueues event id of type typ with data (marshalled to JSON now) for every URL. id is the
// idempotency key: an id already enqueued or delivered (within Retention) is not enqueued again,
// and that is not an error. Send returns once every delivery is in Redis (or failed to get
// there); the deliveries happen in the background.
func (s *Sender) Send(ctx context.Context, typ, id string, data any) error {
	if !headerSafe(typ) || !headerSafe(id) || len(id) > MaxIDBytes || len(typ) > MaxIDBytes {
		return fmt.Errorf("%w: type and id must be non-empty printable ASCII, at most %d bytes", ErrInvalid, MaxIDBytes)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("%w: data: %v", ErrInvalid, err)
	}
	body, err := json.Marshal(Body{ID: id, Type: typ, CreatedAt: time.Now().UnixMilli(), Data: raw})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	var errs []error
	for _, u := range s.p.URLs {
		b, err := json.Marshal(payload{URL: u, Type: typ, ID: id, Body: body})
		if err != nil {
			return err
		}
		t := asynq.NewTask(TaskType, b, asynq.TaskID(TaskID(id, u)), asynq.Queue(Queue),
			asynq.MaxRetry(s.p.MaxRetry), asynq.Timeout(s.p.Timeout+5*time.Second), asynq.Retention(s.p.Retention))
		_, err = s.client.EnqueueContext(ctx, t)
		switch {
		case err == nil:
			s.log.Debug("enqueued", "type", typ, "id", id, "url", redact(u))
		case errors.Is(err, asynq.ErrTaskIDConflict), errors.Is(err, asynq.ErrDuplicateTask):
			s.log.Debug("already enqueued", "type", typ, "id", id, "url", redact(u))
		default:
			errs = append(errs, fmt.Errorf("webhook: enqueue %s to %s: %w", id, redact(u), err))
		}
	}
	return errors.Join(errs...)
}

// headerSafe: v is non-empty printable ASCII (it is sent as a header value).
func headerSafe(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// Collector is the deliveries counter, relaycast_webhook_deliveries_total{result}.
func (s *Sender) Collector() prometheus.Collector { return s.metrics }

// Close stops delivering (waiting up to ShutdownTimeout for deliveries in flight; queued ones
// stay in Redis for the next Sender) and closes the connections. Idempotent.
func (s *Sender) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.srv.Shutdown()
		err = s.client.Close()
		s.http.CloseIdleConnections()
	})
	return err
}

// redact hides a password in a URL, for logs and errors.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(bad URL)"
}

// asynqLogger routes asynq's logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
