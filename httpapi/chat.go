package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/relaycast/relaycast/live"
	"github.com/relaycast/relaycast/live/stream"
)

// Chat and the room's event stream:
//
//	GET  /api/rooms/{room}/chat?after=ID&limit=N   chat history after ID (0/absent: the last N,
//	                                               default 50, at most 500), oldest first
//	POST /api/rooms/{room}/chat {"text"}           a token that may chat (live.Identity) → 201 message
//	GET  /api/rooms/{room}/events?after=N          SSE: every room event after seq N (Last-Event-ID
//	                                               wins over after), then live; `id: seq`, `event: kind`,
//	                                               `data: event JSON`; `event: reset` when N is older than
//	                                               the kept events

const (
	defaultChatLimit = 50
	maxChatLimit     = 500
	sseKeepAlive     = 15 * time.Second
)

func (api *API) handleChatHistory(w http.ResponseWriter, r *http.Request) {
	_, room, ok := api.viewer(w, r)
	if !ok {
		return
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := queryInt(r, "limit", defaultChatLimit)
	if err != nil || limit < 1 || limit > maxChatLimit {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("limit must be 1-%d", maxChatLimit))
		return
	}
	msgs, err := api.live.History(r.Context(), room, after, int(limit))
	writeList(w, msgs, err)
}

func (api *API) handleChatPost(w http.ResponseWriter, r *http.Request) {
	id, room, ok := api.liveIdentity(w, r)
	if !ok {
		return
	}
	var in struct {
		Text string `json:"text"`
	}
	if !decodeJSON(w, r, chatBodyLimit, &in, `the body must be {"text": "..."}`) {
		return
	}
	msg, err := api.live.Chat(r.Context(), room, id, in.Text)
	writeResult(w, http.StatusCreated, msg, err)
}

// handleRoomEvents streams the room's events as Server-Sent Events.
func (api *API) handleRoomEvents(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !live.ValidRoom(room) {
		writeErr(w, http.StatusBadRequest, badRoom)
		return
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		if after, err = strconv.ParseInt(h, 10, 64); err != nil || after < 0 {
			writeErr(w, http.StatusBadRequest, "Last-Event-ID must be an event seq")
			return
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeErr(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	feed, err := api.live.Follow(r.Context(), room, after)
	if err != nil {
		writeError(w, err)
		return
	}
	defer feed.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if after > 0 && !feed.Resumed {
		fmt.Fprintf(w, "id: %d\nevent: reset\ndata: {\"seq\":%d}\n\n", feed.Seq, feed.Seq)
	}
	for _, e := range feed.Replay {
		if writeSSE(w, e) != nil {
			return
		}
	}
	flusher.Flush()
	last := feed.Seq
	tick := time.NewTicker(sseKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-api.live.Ended():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case e, ok := <-feed.C:
			if !ok {
				return // too slow (or closing): the client reconnects with Last-Event-ID
			}
			if e.Seq <= last {
				continue
			}
			last = e.Seq
			if writeSSE(w, e) != nil {
				return
			}
			flusher.Flush()
		}
	}
}

func writeSSE(w http.ResponseWriter, e stream.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, b)
	return err
}

// queryInt is a non-negative integer query parameter (def when absent).
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New(name + " must be a non-negative integer")
	}
	return n, nil
}
