package cluster

import "context"

// Locator says which node a room is pulled from (K2 in docs/CLUSTER.md): its owner (*Cluster),
// or, for a tree deeper than one level, another edge. ok is false when no node serves the room.
type Locator interface {
	Owner(ctx context.Context, room string) (Owner, bool, error)
}

var _ Locator = (*Cluster)(nil)
