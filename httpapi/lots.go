package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/live"
	"github.com/relaycast/relaycast/live/auction"
	"github.com/relaycast/relaycast/live/chat"
)

// Lots (the live room's auction; rules: docs/AUCTION.md, grants: live.Identity):
//
//	POST /api/rooms/{room}/lots                  moderate/publish/admin: queue a lot → 201
//	GET  /api/rooms/{room}/lots                  every lot of the room, oldest first
//	GET  /api/rooms/{room}/lots/{id}             one lot (404 unknown)
//	POST /api/rooms/{room}/lots/{id}/start|end|cancel   moderate/publish/admin → 200
//	POST /api/rooms/{room}/lots/{id}/bids        bid grant: {"amount"} or {"max_amount"} →
//	                                             201 {"bid","lot"}; refused 409 {"error","code","min_amount","lot"}
//	GET  /api/rooms/{room}/lots/{id}/bids        the bid log in order (subjects and proxy maxima
//	                                             only for a moderate/publish/admin token)

// Live is what the API needs of the live room (a *live.Service).
type Live interface {
	Identify(room, token, guestName string) (live.Identity, error)
	CreateLot(ctx context.Context, room string, id live.Identity, in json.RawMessage) (auction.Lot, error)
	LotAction(ctx context.Context, room string, id live.Identity, action, lot string) (auction.Lot, error)
	Lot(ctx context.Context, room, lot string) (auction.Lot, error)
	Lots(ctx context.Context, room string) ([]auction.Lot, error)
	Bid(ctx context.Context, room string, id live.Identity, lot string, amount, maxAmount int64) (auction.BidResult, error)
	Bids(ctx context.Context, room string, viewer live.Identity, lot string) ([]auction.Bid, error)
	Chat(ctx context.Context, room string, id live.Identity, text string) (chat.Message, error)
	History(ctx context.Context, room string, after int64, limit int) ([]chat.Message, error)
	Follow(ctx context.Context, room string, after int64) (*live.Feed, error)
	Ended() <-chan struct{}
}

// Body limits of the live room's requests.
const (
	lotBodyLimit  = 16 << 10
	bidBodyLimit  = 1 << 10
	chatBodyLimit = 16 << 10
)

func (api *API) registerLive(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/rooms/{room}/lots", api.handleCreateLot)
	mux.HandleFunc("GET /api/rooms/{room}/lots", api.handleLots)
	mux.HandleFunc("GET /api/rooms/{room}/lots/{id}", api.handleLot)
	mux.HandleFunc("POST /api/rooms/{room}/lots/{id}/start", api.lotAction(live.ActionStart))
	mux.HandleFunc("POST /api/rooms/{room}/lots/{id}/end", api.lotAction(live.ActionEnd))
	mux.HandleFunc("POST /api/rooms/{room}/lots/{id}/cancel", api.lotAction(live.ActionCancel))
	mux.HandleFunc("POST /api/rooms/{room}/lots/{id}/bids", api.handleBid)
	mux.HandleFunc("GET /api/rooms/{room}/lots/{id}/bids", api.handleBids)
	mux.HandleFunc("GET /api/rooms/{room}/chat", api.handleChatHistory)
	mux.HandleFunc("POST /api/rooms/{room}/chat", api.handleChatPost)
	mux.HandleFunc("GET /api/rooms/{room}/events", api.handleRoomEvents)
}

// liveIdentity is the request's token as a live identity for its room: the token is required
// (401 without or with a bad one; 400 for a bad room name).
func (api *API) liveIdentity(w http.ResponseWriter, r *http.Request) (live.Identity, string, bool) {
	room := r.PathValue("room")
	tok := auth.TokenFromRequest(r)
	if tok == "" {
		authError(w, auth.ErrNoToken)
		return live.Identity{}, room, false
	}
	id, err := api.live.Identify(room, tok, "")
	if err != nil {
		writeError(w, err)
		return live.Identity{}, room, false
	}
	return id, room, true
}

// viewer is the request's identity when it carries a token (else a nobody, ok).
func (api *API) viewer(w http.ResponseWriter, r *http.Request) (live.Identity, string, bool) {
	room := r.PathValue("room")
	if !live.ValidRoom(room) {
		writeErr(w, http.StatusBadRequest, badRoom)
		return live.Identity{}, room, false
	}
	if auth.TokenFromRequest(r) == "" {
		return live.Identity{Guest: true}, room, true
	}
	return api.liveIdentity(w, r)
}

func (api *API) handleCreateLot(w http.ResponseWriter, r *http.Request) {
	id, room, ok := api.liveIdentity(w, r)
	if !ok {
		return
	}
	var in json.RawMessage
	if !decodeJSON(w, r, lotBodyLimit, &in, "the body must be a JSON lot") {
		return
	}
	lot, err := api.live.CreateLot(r.Context(), room, id, in)
	writeResult(w, http.StatusCreated, lot, err)
}

func (api *API) handleLots(w http.ResponseWriter, r *http.Request) {
	_, room, ok := api.viewer(w, r)
	if !ok {
		return
	}
	lots, err := api.live.Lots(r.Context(), room)
	writeList(w, lots, err)
}

func (api *API) handleLot(w http.ResponseWriter, r *http.Request) {
	_, room, ok := api.viewer(w, r)
	if !ok {
		return
	}
	lot, err := api.live.Lot(r.Context(), room, r.PathValue("id"))
	writeResult(w, http.StatusOK, lot, err)
}

func (api *API) lotAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, room, ok := api.liveIdentity(w, r)
		if !ok {
			return
		}
		lot, err := api.live.LotAction(r.Context(), room, id, action, r.PathValue("id"))
		writeResult(w, http.StatusOK, lot, err)
	}
}

// bidRequest is a bid's body.
type bidRequest struct {
	Amount    int64 `json:"amount"`
	MaxAmount int64 `json:"max_amount"`
}

func (api *API) handleBid(w http.ResponseWriter, r *http.Request) {
	id, room, ok := api.liveIdentity(w, r)
	if !ok {
		return
	}
	var in bidRequest
	if !decodeJSON(w, r, bidBodyLimit, &in, `the body must be {"amount": N} or {"max_amount": N}`) {
		return
	}
	res, err := api.live.Bid(r.Context(), room, id, r.PathValue("id"), in.Amount, in.MaxAmount)
	if err != nil {
		writeError(w, err)
		return
	}
	if !res.Accepted {
		writeJSON(w, http.StatusConflict, map[string]any{"error": "bid refused: " + res.Code, "code": res.Code,
			"min_amount": res.MinAmount, "lot": res.Lot})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"bid": res.Bid, "lot": res.Lot})
}

func (api *API) handleBids(w http.ResponseWriter, r *http.Request) {
	viewer, room, ok := api.viewer(w, r)
	if !ok {
		return
	}
	bids, err := api.live.Bids(r.Context(), room, viewer, r.PathValue("id"))
	writeList(w, bids, err)
}

// writeResult writes v with status code, or err (writeError) when it is not nil.
func writeResult(w http.ResponseWriter, code int, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, code, v)
}

// writeList writes a list with status 200 (an empty one as [], never null), or err.
func writeList[T any](w http.ResponseWriter, list []T, err error) {
	if list == nil {
		list = []T{}
	}
	writeResult(w, http.StatusOK, list, err)
}

// liveStatus is the HTTP status of each live error code (live.Code is the one mapping of the
// live room's errors to codes).
var liveStatus = map[string]int{
	live.CodeBadRequest: http.StatusBadRequest, live.CodeBadSeq: http.StatusBadRequest, live.CodeTooLong: http.StatusBadRequest,
	live.CodeUnauthorized: http.StatusForbidden, live.CodeNotJoined: http.StatusBadRequest,
	live.CodeNotFound: http.StatusNotFound, live.CodeConflict: http.StatusConflict,
	live.CodeRateLimited: http.StatusTooManyRequests, live.CodeSlowMode: http.StatusTooManyRequests,
	live.CodeLinksOff: http.StatusForbidden, live.CodeTimedOut: http.StatusForbidden, live.CodeBanned: http.StatusForbidden,
	live.CodeGuestsOff: http.StatusForbidden, live.CodeBusy: http.StatusServiceUnavailable,
}

// liveError is the status and code of a live room error (ok false: not one).
func liveError(err error) (int, string, bool) {
	code, ok := live.Code(err)
	if !ok || errors.Is(err, context.Canceled) {
		return 0, "", false
	}
	st, known := liveStatus[code]
	if !known {
		st = http.StatusInternalServerError
	}
	return st, code, true
}
