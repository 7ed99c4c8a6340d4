package sfu

import "sync/atomic"

// drainAfterIdle is how many seconds the node must have had no room before the tick empties the
// send path's buffer pools (udpsend.Conn.Drain): what the last rooms' viewers used then goes at
// the next GC instead of two GC cycles later, minutes on an idle server (docs/RELIABILITY.md
// "Soak" found ~55 MB still pooled 3 minutes after the load).
const drainAfterIdle = 5

type drainStats struct {
	drains  atomic.Uint64 // times the pools were emptied
	buffers atomic.Uint64 // buffers let go, all drains together
}

// drainSendPools empties the buffer pools of the batching socket.
func (s *SFU) drainSendPools() {
	bc := s.batch()
	if bc == nil {
		return
	}
	n := bc.Drain()
	s.drain.drains.Add(1)
	s.drain.buffers.Add(uint64(n))
	if n > 0 {
		s.log.Debug("send buffer pools emptied: no room", "buffers", n)
	}
}
