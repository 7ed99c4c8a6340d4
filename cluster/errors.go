package cluster

import (
	"errors"
	"fmt"
)

var (
	// ErrOwned: another live node holds the room's lease. The error is an *OwnedError naming it.
	ErrOwned = errors.New("room is owned by another node")
	// ErrClosed: the Cluster was closed.
	ErrClosed = errors.New("cluster closed")
	// ErrBadParams: New was given unusable Params (no Redis, a bad node id).
	ErrBadParams = errors.New("bad cluster params")
	// ErrBadRoom: a room name is empty or has characters a key or the Owner JSON cannot hold.
	ErrBadRoom = errors.New("bad room name")

	// The edge relay (edge.go).

	// ErrLocate: the Locator failed (Redis unreachable, ...).
	ErrLocate = errors.New("cluster: cannot locate the room's owner")
	// ErrPull: pulling a room from its owner failed (HTTP, negotiation, ICE, no tracks).
	ErrPull = errors.New("cluster: pull from the owner failed")
	// ErrEdgeClosed: the Edge is closed.
	ErrEdgeClosed = errors.New("cluster: edge closed")
)

// OwnedError is the error of Claim when a live other node owns the room; errors.Is(err, ErrOwned).
type OwnedError struct{ Owner Owner }

func (e *OwnedError) Error() string {
	return fmt.Sprintf("%s: room %q is served by node %q (%s)", ErrOwned, e.Owner.Room, e.Owner.Node, e.Owner.URL)
}

// Unwrap makes errors.Is(err, ErrOwned) true.
func (e *OwnedError) Unwrap() error { return ErrOwned }
