package sfu

// SendPoolDrains is how often the idle node emptied its send pools, and how many buffers that let go.
func SendPoolDrains(s *SFU) (drains, buffers uint64) {
	return s.drain.drains.Load(), s.drain.buffers.Load()
}
