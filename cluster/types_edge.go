package cluster

import "context"

// This file holds the part of the cluster contract (K1, K2 in docs/CLUSTER.md) the edge relay
// consumes. Owner is declared by the membership code (cluster.go); until both are merged it is
// declared here too, exactly as there. The integrator keeps one copy.

// Owner is the node that owns a live room (its lease in Redis).
type Owner struct {
	Room  string `json:"room"`
	Node  string `json:"node"`
	URL   string `json:"url"`
	Fence int64  `json:"fence"`
}

// Locator says which node a room is pulled from: its owner (*Cluster), or, for a tree deeper
// than one level, another edge. ok is false when no node serves the room.
type Locator interface {
	Owner(ctx context.Context, room string) (Owner, bool, error)
}
