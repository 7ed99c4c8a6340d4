package httpapi

import (
	"context"
	"net/http"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
)

// Rooms:
//
//	GET    /api/rooms          the live rooms of the cluster, each with its node
//	GET    /api/rooms/{room}   one live room (on any node), 404 when it is not live
//	DELETE /api/rooms/{room}   admin or the room's publisher: end the broadcast (on its node)

const badRoom = "bad room name: use 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit"

// NodeRoom is a live room of GET /api/rooms with the node serving it (its owner: the node
// its publisher reached).
type NodeRoom struct {
	sfu.RoomInfo
	Node string `json:"node"`
}

// ClusterRooms is implemented by a Rooms that sees every node's rooms (server/cluster.go).
type ClusterRooms interface {
	NodeRooms(ctx context.Context) []NodeRoom
	NodeRoom(ctx context.Context, name string) (NodeRoom, bool)
}

// handleRooms: GET /api/rooms lists the live rooms (of the whole cluster, with their node).
func (api *API) handleRooms(w http.ResponseWriter, r *http.Request) {
	var rooms []NodeRoom
	if cr, ok := api.rooms.(ClusterRooms); ok {
		rooms = cr.NodeRooms(r.Context())
	} else {
		for _, info := range api.rooms.Rooms() {
			rooms = append(rooms, NodeRoom{RoomInfo: info})
		}
	}
	if rooms == nil {
		rooms = []NodeRoom{}
	}
	writeJSON(w, http.StatusOK, rooms)
}

// handleRoom: GET /api/rooms/{room} is one live room, 404 when it is not live.
func (api *API) handleRoom(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !signaling.ValidRoom(room) {
		writeErr(w, http.StatusBadRequest, "room names are 1-64 characters from A-Z a-z 0-9 _ - and start with a letter or digit")
		return
	}
	var info NodeRoom
	var ok bool
	if cr, isCluster := api.rooms.(ClusterRooms); isCluster {
		info, ok = cr.NodeRoom(r.Context(), room)
	} else {
		info.RoomInfo, ok = api.rooms.Room(room)
	}
	if !ok {
		writeErr(w, http.StatusNotFound, "room is not live")
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (api *API) handleEndRoom(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !signaling.ValidRoom(room) {
		writeErr(w, http.StatusBadRequest, badRoom)
		return
	}
	if !api.authorize(w, r, room, auth.GrantPublish) {
		return
	}
	if !api.rooms.EndRoom(room, "ended by an operator") {
		writeErr(w, http.StatusNotFound, "room is not live")
		return
	}
	api.log.Info("broadcast ended over the API", "room", room)
	w.WriteHeader(http.StatusNoContent)
}
