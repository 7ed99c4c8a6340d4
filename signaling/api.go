package signaling

import (
	"encoding/json"
	"net/http"

	"github.com/relaycast/relaycast/sfu"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handleRooms: GET /api/rooms lists the live rooms.
func (s *Server) handleRooms(w http.ResponseWriter, _ *http.Request) {
	rooms := s.p.SFU.Rooms()
	if rooms == nil {
		rooms = []sfu.RoomInfo{}
	}
	writeJSON(w, http.StatusOK, rooms)
}

// handleRoom: GET /api/rooms/{room} is one live room, 404 when it is not live.
func (s *Server) handleRoom(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !ValidRoom(room) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": errBadRoom.Error()})
		return
	}
	info, ok := s.p.SFU.Room(room)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "room is not live"})
		return
	}
	writeJSON(w, http.StatusOK, info)
}
