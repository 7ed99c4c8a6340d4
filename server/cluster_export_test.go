package server

// StopClusterForTest makes the node die to the cluster: its heartbeat and lease renewals stop
// and nothing is released (its local rooms go on, as on a node cut off from Redis).
func (s *Server) StopClusterForTest() { _ = s.Cluster().Close() }
