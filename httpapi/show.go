package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/relaycast/relaycast/catalog"
)

// The show beside a recording (routes in Register; docs/SHOW.md):
//
//	GET /api/recordings/{id}/chapters   the lots of the broadcast as chapters of the video
//	GET /api/recordings/{id}/events     its chat, bid and lot events, each at its time in the video
//	                                    (?after=<seq>&limit=<n> pages; default and at most 20000)
//
// Both are public like the recording itself, and carry display names only: subjects (the
// accounts behind the names) and secret maximum bids are stripped. An unknown recording is a 404;
// a recording with no show (an upload, or a broadcast without chat or lots) answers [].

// Chapter is one lot of a recording.
type Chapter struct {
	LotID      string   `json:"lot_id"`
	Title      string   `json:"title"`
	StartS     float64  `json:"start_s"`
	EndS       float64  `json:"end_s"`
	WonS       *float64 `json:"won_s"` // the moment it sold; null unless sold
	Status     string   `json:"status"`
	Price      int64    `json:"price"` // minor units
	WinnerName string   `json:"winner_name"`
}

// ShowEvent is one room event of a recording at its time in the video.
type ShowEvent struct {
	T    float64         `json:"t"` // seconds into the recording
	Seq  int64           `json:"seq"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

const maxShowEvents = 20000

// showOf reads the recording of the request and its timeline: ok false when it answered. The
// range is the recording's wall-clock span (still recording: until now).
func (api *API) showOf(w http.ResponseWriter, r *http.Request) (rec catalog.Recording, tl catalog.Timeline, from, to int64, ok bool) {
	rec, ok = api.recording(w, r)
	if !ok {
		return
	}
	if rec.Source != "" && rec.Source != catalog.SourceLive {
		return rec, tl, 0, -1, true // an upload or import: no show beside it
	}
	parts, err := api.a.Catalog().Parts(r.Context(), rec.ID)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return rec, tl, 0, 0, false
	}
	from, to = rec.StartedAt.UnixMilli(), time.Now().UnixMilli()
	if rec.EndedAt != nil {
		to = rec.EndedAt.UnixMilli()
	}
	return rec, catalog.NewTimeline(rec, parts), from, to, true
}

func (api *API) handleChapters(w http.ResponseWriter, r *http.Request) {
	rec, tl, from, to, ok := api.showOf(w, r)
	if !ok {
		return
	}
	out := []Chapter{}
	if to < from {
		writeJSON(w, http.StatusOK, out)
		return
	}
	lots, err := api.a.Catalog().LotsBetween(r.Context(), rec.Room, from, to)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	for _, l := range lots {
		end := l.EndedAt
		if end == 0 || end > to { // still open
			end = to
		}
		c := Chapter{LotID: l.ID, Title: l.Title, StartS: secs(tl.At(max(l.StartedAt, from))), EndS: secs(tl.At(end)),
			Status: l.Status, Price: l.Price, WinnerName: l.WinnerName}
		if l.Status == "sold" && l.EndedAt > 0 && l.EndedAt <= to {
			won := secs(tl.At(l.EndedAt))
			c.WonS = &won
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (api *API) handleShowEvents(w http.ResponseWriter, r *http.Request) {
	rec, tl, from, to, ok := api.showOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	after, err1 := parseInt(q.Get("after"), 0)
	limit, err2 := parseInt(q.Get("limit"), maxShowEvents)
	if err1 != nil || err2 != nil || after < 0 || limit <= 0 {
		writeErr(w, http.StatusBadRequest, "after and limit must be positive integers")
		return
	}
	out := []ShowEvent{}
	if to < from {
		writeJSON(w, http.StatusOK, out)
		return
	}
	evs, err := api.a.Catalog().LiveEventsPage(r.Context(), rec.Room, from, to, after, int(min(limit, maxShowEvents)))
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	for _, e := range evs {
		switch e.Kind {
		case catalog.KindChat, catalog.KindBid, catalog.KindLot:
		default:
			continue
		}
		out = append(out, ShowEvent{T: secs(tl.At(e.At)), Seq: e.Seq, Kind: e.Kind, Data: publicShowData(e.Data)})
	}
	writeJSON(w, http.StatusOK, out)
}

func parseInt(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// secs rounds to the millisecond.
func secs(s float64) float64 { return math.Round(s*1000) / 1000 }

// private reports the fields a public show answer never carries: who is behind a name
// (subjects: chat's subject, a bid's subject, a lot's leader and winner) and a bidder's secret
// maximum.
func private(key string) bool {
	switch key {
	case "subject", "leader", "winner", "max_amount":
		return true
	}
	return false
}

// publicShowData strips the private fields from every object of an event's data (numbers
// kept as they are).
func publicShowData(raw json.RawMessage) json.RawMessage {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return json.RawMessage("null")
	}
	b, err := json.Marshal(strip(v))
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func strip(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if private(k) {
				delete(x, k)
				continue
			}
			x[k] = strip(e)
		}
	case []any:
		for i := range x {
			x[i] = strip(x[i])
		}
	}
	return v
}
