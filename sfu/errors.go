package sfu

import "errors"

// Sentinel errors. Callers check them with errors.Is; signaling maps them to HTTP statuses and
// WebSocket error codes.
var (
	// ErrRoomNotLive: nobody is broadcasting in the room (yet).
	ErrRoomNotLive = errors.New("room is not live")
	// ErrRoomBusy: the room already has a live publisher and the request may not take over.
	ErrRoomBusy = errors.New("room already has a live publisher")
	// ErrBadOffer: the SDP offer could not be parsed or applied.
	ErrBadOffer = errors.New("invalid SDP offer")
	// ErrUnsupported: the offer carries no track or codec the SFU can take.
	ErrUnsupported = errors.New("no supported track or codec in offer")
	// ErrBadQuality: a simulcast quality other than auto, high, medium or low.
	ErrBadQuality = errors.New("invalid quality")
	// ErrClosed: the SFU, room or session is closed.
	ErrClosed = errors.New("closed")
)
