// Package events fans status events out to every relaycast node through Redis pub/sub, and from
// each node to its browsers and API clients as Server-Sent Events (GET /api/events). Clients
// never poll: they get each change once, as it happens.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one message on a channel. Type names what happened (e.g. "recording", "progress",
// "deleted"); Data is its JSON body.
type Event struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"` // the recording it is about
	Data json.RawMessage `json:"data,omitempty"`
}

// Params configures a Bus.
type Params struct {
	Redis   redis.UniversalClient
	Channel string // default "relaycast:events"
	Logger  *slog.Logger
	// Buffer is the number of events queued per subscriber before it starts losing them
	// (default 256; a slow SSE client never blocks the others).
	Buffer int
}

// Bus publishes to and receives from one Redis channel, and fans received events out to local
// subscribers.
type Bus struct {
	p      Params
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}
	// streams is closed by EndStreams: open SSE responses end (server shutdown).
	streams     chan struct{}
	streamsOnce sync.Once

	mu   sync.Mutex
	subs map[chan Event]struct{}
}

// New starts the Redis subscription; Close stops it.
func New(p Params) (*Bus, error) {
	if p.Channel == "" {
		p.Channel = "relaycast:events"
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Buffer <= 0 {
		p.Buffer = 256
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{p: p, log: p.Logger.With("component", "events"), ctx: ctx, cancel: cancel, subs: map[chan Event]struct{}{}, ready: make(chan struct{}), streams: make(chan struct{})}
	ps := p.Redis.Subscribe(ctx, p.Channel)
	// Wait for the subscription, so events published right after New are received.
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if _, err := ps.Receive(sctx); err != nil {
		_ = ps.Close()
		cancel()
		return nil, fmt.Errorf("events: subscribe %s: %w", p.Channel, err)
	}
	b.wg.Add(1)
	go b.run(ps)
	return b, nil
}

func (b *Bus) run(ps *redis.PubSub) {
	defer b.wg.Done()
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelHealthCheckInterval(10 * time.Second))
	for {
		select {
		case <-b.ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var e Event
			if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
				b.log.Warn("bad event", "err", err)
				continue
			}
			b.deliver(e)
		}
	}
}

func (b *Bus) deliver(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default: // slow subscriber: it loses this event, the others do not wait
		}
	}
}

// Publish sends e to every node (including this one).
func (b *Bus) Publish(ctx context.Context, e Event) error {
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := b.p.Redis.Publish(ctx, b.p.Channel, raw).Err(); err != nil {
		return fmt.Errorf("events: publish: %w", err)
	}
	return nil
}

// PublishData marshals data into an event and publishes it; errors are logged.
func (b *Bus) PublishData(ctx context.Context, typ, id string, data any) {
	raw, err := json.Marshal(data)
	if err == nil {
		err = b.Publish(ctx, Event{Type: typ, ID: id, Data: raw})
	}
	if err != nil {
		b.log.Warn("cannot publish event", "type", typ, "id", id, "err", err)
	}
}

// Subscribe returns a channel of the events received from now on and a function that ends the
// subscription.
func (b *Bus) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, b.p.Buffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		})
	}
}

// EndStreams ends every open SSE response (call it when the HTTP server shuts down: an event
// stream never goes idle by itself). Clients reconnect to another node (retry: 2000).
func (b *Bus) EndStreams() { b.streamsOnce.Do(func() { close(b.streams) }) }

// Close stops receiving and waits for the receive goroutine. Open SSE streams end.
func (b *Bus) Close() error {
	b.EndStreams()
	b.cancel()
	b.wg.Wait()
	return nil
}

// Done is closed when the bus is closed.
func (b *Bus) Done() <-chan struct{} { return b.ctx.Done() }

// Handler streams events as Server-Sent Events: "event: <type>\ndata: <json event>\n\n", a
// comment every keepAlive (default 15 s) so proxies keep the connection open. filter, when not
// nil, drops events for which it returns false.
func (b *Bus) Handler(keepAlive time.Duration, filter func(*http.Request, Event) bool) http.Handler {
	if keepAlive <= 0 {
		keepAlive = 15 * time.Second
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		ch, cancel := b.Subscribe()
		defer cancel()
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		_, _ = fmt.Fprint(w, ": relaycast events\nretry: 2000\n\n")
		fl.Flush()
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-b.ctx.Done():
				return
			case <-b.streams:
				return
			case <-t.C:
				if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
					return
				}
				fl.Flush()
			case e := <-ch:
				if filter != nil && !filter(r, e) {
					continue
				}
				raw, _ := json.Marshal(e)
				if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, raw); err != nil {
					return
				}
				fl.Flush()
			}
		}
	})
}
