package sfu

// Seams for the external tests (compiled into tests only).

// SRWakeups is how many times the sender-report scheduler's ticker has fired (srsched.go).
func SRWakeups(s *SFU) uint64 { return s.sr.wakes.Load() }

// SRStopped reports whether the sender-report scheduler's ticker is stopped (nothing to report).
func SRStopped(s *SFU) bool { return s.sr.stopped.Load() }
