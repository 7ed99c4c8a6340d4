package cluster

import "testing"

// cancelHeartbeatForTest stops the node's heartbeat alone: it goes silent while its leases
// still renew (a node whose heartbeats stopped reaching Redis).
func (c *Cluster) cancelHeartbeatForTest(t *testing.T) {
	t.Helper()
	c.hbStop()
}
