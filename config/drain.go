package config

import "time"

// Drain holds how a node leaves a cluster on SIGTERM (docs/CLUSTER.md, "Draining a node"). It is
// embedded in Config, so its fields read as cfg.DrainTimeout.
type Drain struct {
	// DrainTimeout bounds how long a node that got SIGTERM waits for its sessions (publishers,
	// viewers, sockets) to leave after it told them to reconnect elsewhere; then it shuts down as
	// before. 0 shuts down at once (no drain). --drain-timeout, default 30s, at most 1h.
	DrainTimeout time.Duration
}

// DefaultDrain returns the documented drain defaults.
func DefaultDrain() Drain { return Drain{DrainTimeout: 30 * time.Second} }

func (d *Drain) settings() []setting {
	return []setting{
		{"drain-timeout", "on SIGTERM, how long (`duration`) to wait for sessions to move to other nodes after /readyz turns 503 and clients are told to reconnect; 0 = stop at once", (*durationValue)(&d.DrainTimeout)},
	}
}

func (d Drain) validate(bad func(flagName, format string, args ...any)) {
	if d.DrainTimeout < 0 || d.DrainTimeout > time.Hour {
		bad("drain-timeout", "%v is not in 0..1h", d.DrainTimeout)
	}
}
