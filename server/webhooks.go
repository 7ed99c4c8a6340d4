package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/webhook"
)

// webhooks is the wiring of the host shop's webhooks (package webhook, docs/WEBHOOKS.md):
// room.live and room.ended from the SFU (a watch per live room, set up by the OnLive hook),
// recording.ready from the archive's status events, lot.won and lot.ended from the auction
// (lotSettledWebhooks). The Server's field is nil without --webhook-url.
type webhooks struct {
	sender *webhook.Sender
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and wg.Add against Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

// sendTimeout bounds one Send (enqueueing in Redis) of the wiring.
const sendTimeout = 5 * time.Second

// startWebhooks builds the sender on the node's Redis and follows the archive's events.
func (s *Server) startWebhooks() error {
	if len(s.cfg.WebhookURLs) == 0 {
		return nil
	}
	sender, err := webhook.New(webhook.Params{Redis: s.redisOpt, URLs: s.cfg.WebhookURLs, Secret: s.cfg.WebhookSecret,
		AllowPrivate: s.cfg.WebhookAllowPrivate, Logger: s.p.Logger})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	w := &webhooks{sender: sender, log: s.p.Logger.With("component", "webhooks")}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	s.webhooks.Store(w)
	if s.archive != nil {
		events, unsubscribe := s.archive.Events().Subscribe()
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer unsubscribe()
			for {
				select {
				case <-w.ctx.Done():
					return
				case e := <-events:
					if e.Type == "recording" {
						s.recordingWebhook(w, e.Data)
					}
				}
			}
		}()
	}
	return nil
}

// closeWebhooks waits for the room watches (the rooms have ended: closeMedia closes the SFU
// first, so their room.ended events are sent), then closes the sender.
func (s *Server) closeWebhooks() {
	w := s.webhooks.Load()
	if w == nil {
		return
	}
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
	_ = w.sender.Close()
}

// registerWebhookMetrics adds relaycast_webhook_deliveries_total to the node's /metrics.
func (s *Server) registerWebhookMetrics(reg prometheus.Registerer) {
	if w := s.webhooks.Load(); w != nil {
		reg.MustRegister(w.sender.Collector())
	}
}

// send enqueues one event, logging a failure (the wiring's callers cannot do more).
func (w *webhooks) send(typ, id string, data any) {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	if err := w.sender.Send(ctx, typ, id, data); err != nil {
		w.log.Error("webhook not enqueued", "type", typ, "id", id, "err", err)
	}
}

// sendWebhook enqueues event id of type typ (webhook.Type*) with data for every --webhook-url;
// a no-op without webhooks. It blocks until the event is in Redis (at most 5 s).
func (s *Server) sendWebhook(typ, id string, data any) {
	if w := s.webhooks.Load(); w != nil {
		w.send(typ, id, data)
	}
}

// lotSettledWebhooks sends the webhooks of a settled lot (an auction.Lot, or anything that
// marshals to its JSON): lot.won (id "lot.won:"+lot id) when its status is "sold", then
// lot.ended (id "lot.ended:"+lot id) always; the data of both is the lot. Call it from the
// auction's OnSettled hook (once cluster-wide; the ids make a repeat harmless). It blocks until
// both are in Redis (at most 5 s each). A lot settled before startWebhooks ran (during New) gets
// no webhook: build the auction engine after it, or start the webhooks first.
func (s *Server) lotSettledWebhooks(lot any) {
	w := s.webhooks.Load()
	if w == nil {
		return
	}
	raw, err := json.Marshal(lot)
	var head struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err == nil {
		err = json.Unmarshal(raw, &head)
	}
	if err != nil || head.ID == "" {
		w.log.Error("settled lot without an id: no webhook", "err", err)
		return
	}
	if head.Status == "sold" {
		w.send(webhook.TypeLotWon, "lot.won:"+head.ID, json.RawMessage(raw))
	}
	w.send(webhook.TypeLotEnded, "lot.ended:"+head.ID, json.RawMessage(raw))
}

// roomWebhook is the data of room.live and room.ended.
type roomWebhook struct {
	Room      string `json:"room"`
	Publisher string `json:"publisher"`  // the publish token's subject ("" when it has none)
	StartedAt int64  `json:"started_at"` // ms; with the room, what the event ids are made of
	WatchURL  string `json:"watch_url"`
	EndedAt   int64  `json:"ended_at,omitempty"` // room.ended
	Reason    string `json:"reason,omitempty"`   // room.ended: why it ended, as the SFU says
}

// webhookOnLive wraps the SFU's OnLive hook: each room that goes live gets a watch that sends
// room.live now and room.ended when the broadcast ends. next (the recorder) is called as before.
func (s *Server) webhookOnLive(next func(sfu.LiveRoom) sfu.Sink) func(sfu.LiveRoom) sfu.Sink {
	if len(s.cfg.WebhookURLs) == 0 {
		return next
	}
	return func(room sfu.LiveRoom) sfu.Sink {
		s.watchRoom(room)
		if next == nil {
			return nil
		}
		return next(room)
	}
}

// watchRoom starts the goroutine of one broadcast's room.live and room.ended. The watch is taken
// here, in the OnLive hook, before the room can end, so its end is never missed. The event ids
// are "room.live:"+room+":"+start ms (and room.ended:…): a broadcast that starts again in the same
// room is a new event.
func (s *Server) watchRoom(room sfu.LiveRoom) {
	w := s.webhooks.Load()
	if w == nil {
		return
	}
	name := room.Name()
	since := time.Now()
	if info, ok := s.sfu.Room(name); ok && !info.Since.IsZero() {
		since = info.Since
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	events, unwatch := s.sfu.Watch(name)
	w.wg.Add(1)
	w.mu.Unlock()
	data := roomWebhook{Room: name, Publisher: room.Publisher(), StartedAt: since.UnixMilli(), WatchURL: s.webhookBase() + "/watch/" + name}
	key := fmt.Sprintf("%s:%d", name, data.StartedAt)
	go func() {
		defer w.wg.Done()
		defer unwatch()
		w.send(webhook.TypeRoomLive, "room.live:"+key, data)
		ended := func(e sfu.Event) bool {
			// An end is this broadcast's unless the room is live again with this start time (the
			// end of an earlier broadcast in the same room, emitted late).
			if e.Kind != sfu.EventEnded {
				return false
			}
			if info, ok := s.sfu.Room(name); ok && info.Since.Equal(since) {
				return false
			}
			data.EndedAt, data.Reason = time.Now().UnixMilli(), e.Reason
			w.send(webhook.TypeRoomEnded, "room.ended:"+key, data)
			return true
		}
		for {
			select {
			case e := <-events:
				if ended(e) {
					return
				}
			case <-w.ctx.Done(): // shutting down: the SFU has ended the rooms, their ends are queued
				for {
					select {
					case e := <-events:
						if ended(e) {
							return
						}
					default:
						return
					}
				}
			}
		}
	}()
}

// recordingWebhook is the data of recording.ready: the public recording, its hls_url and
// poster_url absolute, and the page that plays it.
type recordingWebhook struct {
	catalog.Recording
	PlaybackURL string `json:"playback_url"`
}

// recordingWebhook sends recording.ready (id "recording.ready:"+recording id) for a "recording"
// status event of a ready recording. Every node sees the event; the id makes it one delivery.
func (s *Server) recordingWebhook(w *webhooks, raw json.RawMessage) {
	var r catalog.Recording
	if err := json.Unmarshal(raw, &r); err != nil || r.ID == "" || r.Status != catalog.StatusReady {
		return
	}
	base := s.webhookBase()
	abs := func(u string) string {
		if strings.HasPrefix(u, "/") {
			return base + u
		}
		return u
	}
	r = r.Public()
	r.HLSURL, r.PosterURL = abs(r.HLSURL), abs(r.PosterURL)
	for i := range r.Subtitles {
		r.Subtitles[i].URL = abs(r.Subtitles[i].URL)
	}
	w.send(webhook.TypeRecordingReady, "recording.ready:"+r.ID, recordingWebhook{Recording: r, PlaybackURL: base + "/v/" + r.ID})
}

// webhookBase is the public base URL for the links in webhooks (--public-url, else this node's).
func (s *Server) webhookBase() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	if s.ln != nil {
		return s.URL()
	}
	return s.cfg.BaseURL()
}
