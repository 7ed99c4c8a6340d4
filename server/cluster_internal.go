package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/cluster"
	"github.com/relaycast/relaycast/signaling"
)

// The internal endpoints one node calls on another (a relay token, auth.GrantRelay, minted
// with the cluster's shared --auth-secret):
//
//	POST /internal/rooms/{room}/handover  {"owner": hash, "node": id, "fence": n}
//	     the same publisher reached another node: end the room here, release its lease
//	     (200; 409 another publisher is live; 404 not live here)
//	POST /internal/rooms/{room}/end       {"reason": "..."}
//	     DELETE /api/rooms/{room} reached a node that does not serve the room (204; 404)
//	GET  /internal/rooms/{room}
//	     is the room live on this node (200 {"live": true, "relayed": bool}; 404): an edge whose
//	     pull broke asks its origin whether the show is over or goes on elsewhere

// handoverRequest is the body of POST /internal/rooms/{room}/handover.
type handoverRequest struct {
	Owner string `json:"owner"` // hash of the new publisher's identity
	Node  string `json:"node"`  // the node asking
	Fence int64  `json:"fence"` // the lease it saw
}

type endRequest struct {
	Reason string `json:"reason"`
}

// handoverResult is what an owner node said to a handover.
type handoverResult int

const (
	handoverDone     handoverResult = iota // it ended its room and released the lease
	handoverConflict                       // another publisher is live there
	handoverGone                           // no answer, or no live room there: the owner is probably dead
)

// register mounts the internal endpoints.
func (cs *clusterSFU) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /internal/rooms/{room}/handover", cs.handleHandover)
	mux.HandleFunc("POST /internal/rooms/{room}/end", cs.handleEnd)
	mux.HandleFunc("GET /internal/rooms/{room}", cs.handleLocalRoom)
}

// handleLocalRoom: GET /internal/rooms/{room}, this node's own room only (never the cluster's).
func (cs *clusterSFU) handleLocalRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := cs.internalAuth(w, r)
	if !ok {
		return
	}
	info, live := cs.SFU.Room(room)
	if !live {
		jsonError(w, http.StatusNotFound, "room is not live on this node")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]bool{"live": true, "relayed": info.Relayed})
}

// call POSTs body to another node's internal endpoint with a relay token.
func (cs *clusterSFU) call(ctx context.Context, owner cluster.Owner, op string, body any) (*http.Response, error) {
	c := cs.cluster()
	tok, err := cs.signer.Issue(owner.Room, []auth.Grant{auth.GrantRelay}, time.Minute, "node:"+c.Self().ID)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(body)
	u := strings.TrimRight(owner.URL, "/") + "/internal/rooms/" + url.PathEscape(owner.Room) + "/" + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	return cs.client.Do(req)
}

// handover asks the owner node to end its room for the same publisher.
func (cs *clusterSFU) handover(ctx context.Context, owner cluster.Owner, hash string) handoverResult {
	resp, err := cs.call(ctx, owner, "handover", handoverRequest{Owner: hash, Node: cs.cluster().Self().ID, Fence: owner.Fence})
	if err != nil {
		cs.log.Warn("handover: owner unreachable", "room", owner.Room, "owner", owner.Node, "err", err)
		return handoverGone
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		cs.log.Info("room handed over", "room", owner.Room, "from", owner.Node, "fence", owner.Fence)
		return handoverDone
	case http.StatusConflict:
		cs.log.Info("handover refused: another publisher", "room", owner.Room, "owner", owner.Node)
		return handoverConflict
	}
	cs.log.Warn("handover failed", "room", owner.Room, "owner", owner.Node, "status", resp.StatusCode, "body", strings.TrimSpace(string(msg)))
	return handoverGone
}

// claimWhenGone retries the claim of a room whose owner does not answer until its lease or
// membership lapses (DeadAfter, 3 s), within ctx less a margin left for the negotiation.
func (cs *clusterSFU) claimWhenGone(ctx context.Context, c *cluster.Cluster, room string, dead cluster.Owner) (*cluster.Lease, error) {
	limit := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Add(-3*time.Second).Before(limit) {
		limit = d.Add(-3 * time.Second)
	}
	for {
		lease, err := c.Claim(ctx, room)
		var owned *cluster.OwnedError
		if !errors.As(err, &owned) || owned.Owner.Fence != dead.Fence || !time.Now().Before(limit) {
			return lease, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// internalAuth checks the room and the relay token of an internal request.
func (cs *clusterSFU) internalAuth(w http.ResponseWriter, r *http.Request) (string, bool) {
	room := r.PathValue("room")
	if !signaling.ValidRoom(room) {
		jsonError(w, http.StatusBadRequest, "bad room name")
		return "", false
	}
	if _, err := cs.signer.Authorize(auth.TokenFromRequest(r), room, auth.GrantRelay); err != nil {
		jsonError(w, http.StatusUnauthorized, "a relay token is required: "+err.Error())
		return "", false
	}
	return room, true
}

// handleHandover: POST /internal/rooms/{room}/handover.
func (cs *clusterSFU) handleHandover(w http.ResponseWriter, r *http.Request) {
	room, ok := cs.internalAuth(w, r)
	if !ok {
		return
	}
	var req handoverRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Owner == "" {
		jsonError(w, http.StatusBadRequest, `body must be JSON {"owner": ..., "node": ...}`)
		return
	}
	cs.mu.Lock()
	o := cs.rooms[room]
	switch {
	case o == nil:
		cs.mu.Unlock()
		jsonError(w, http.StatusNotFound, "room is not live on this node")
		return
	case o.owner != req.Owner:
		cs.mu.Unlock()
		jsonError(w, http.StatusConflict, "another publisher is live in this room")
		return
	}
	cs.mu.Unlock()
	cs.log.Info("handing the room over", "room", room, "to", req.Node)
	cs.SFU.EndRoom(room, reasonMoved)
	select {
	case <-o.released:
	case <-time.After(3 * time.Second):
		jsonError(w, http.StatusGatewayTimeout, "the room did not end in time")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"released":true}`+"\n")
}

// handleEnd: POST /internal/rooms/{room}/end.
func (cs *clusterSFU) handleEnd(w http.ResponseWriter, r *http.Request) {
	room, ok := cs.internalAuth(w, r)
	if !ok {
		return
	}
	var req endRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Reason == "" {
		jsonError(w, http.StatusBadRequest, `body must be JSON {"reason": ...}`)
		return
	}
	if !cs.SFU.EndRoom(room, req.Reason) {
		jsonError(w, http.StatusNotFound, "room is not live on this node")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// EndRoom ends the room here, or on the node that owns it (DELETE /api/rooms/{room} through a
// load balancer reaches any node). It reports whether a room was live.
func (cs *clusterSFU) EndRoom(name, reason string) bool {
	if cs.SFU.EndRoom(name, reason) {
		return true
	}
	c := cs.cluster()
	if c == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	owner, ok, err := c.Owner(ctx, name)
	if err != nil || !ok || owner.Node == c.Self().ID {
		return false
	}
	resp, err := cs.call(ctx, owner, "end", endRequest{Reason: reason})
	if err != nil {
		cs.log.Warn("ending a room on its owner failed", "room", name, "owner", owner.Node, "err", err)
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}
