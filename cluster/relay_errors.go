package cluster

import "errors"

// Sentinel errors of the edge relay (edge.go). The integrator may move them into errors.go.
var (
	// ErrLocate: the Locator failed (Redis unreachable, ...).
	ErrLocate = errors.New("cluster: cannot locate the room's owner")
	// ErrPull: pulling a room from its owner failed (HTTP, negotiation, ICE, no tracks).
	ErrPull = errors.New("cluster: pull from the owner failed")
	// ErrEdgeClosed: the Edge is closed.
	ErrEdgeClosed = errors.New("cluster: edge closed")
)
