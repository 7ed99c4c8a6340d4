package config

import "time"

// Live HLS on demand (docs/LLHLS.md, "On demand"): values of --live-hls-start.
const (
	// LiveHLSOnDemand starts a live room's LL-HLS (its feed and ffmpeg) at the first request
	// for /live/{room}/… and stops it after --live-hls-idle without one.
	LiveHLSOnDemand = "on-demand"
	// LiveHLSAlways gives every live room its LL-HLS from the start.
	LiveHLSAlways = "always"
)

// LiveHLSDemand holds when live rooms' LL-HLS runs. Embedded in LiveHLS (cfg.LiveHLSStart).
type LiveHLSDemand struct {
	// LiveHLSStart is when a live room's LL-HLS starts: on-demand (at the first request for
	// the room's /live/ URLs) or always (when the room goes live). --live-hls-start, default
	// on-demand.
	LiveHLSStart string
	// LiveHLSIdle is how long an on-demand room's LL-HLS goes on without a request before it
	// stops (a CDN pulling keeps it on), 1s..24h. --live-hls-idle, default 2m.
	LiveHLSIdle time.Duration
}

// DefaultLiveHLSDemand returns the documented defaults.
func DefaultLiveHLSDemand() LiveHLSDemand {
	return LiveHLSDemand{LiveHLSStart: LiveHLSOnDemand, LiveHLSIdle: 2 * time.Minute}
}

// LiveHLSOnDemandMode reports whether rooms' LL-HLS starts on demand.
func (d LiveHLSDemand) LiveHLSOnDemandMode() bool { return d.LiveHLSStart != LiveHLSAlways }

func (d *LiveHLSDemand) settings() []setting {
	return []setting{
		{"live-hls-start", "when a live room's LL-HLS (its packager feed and ffmpeg) starts: `on-demand` (at the first request for /live/{room}/…, stopped after --live-hls-idle without one) or always (when the room goes live)", (*stringValue)(&d.LiveHLSStart)},
		{"live-hls-idle", "how long (`duration`, 1s..24h) an on-demand room's LL-HLS goes on without a request before it stops", (*durationValue)(&d.LiveHLSIdle)},
	}
}

func (d LiveHLSDemand) validate(bad func(flagName, format string, args ...any)) {
	if d.LiveHLSStart != LiveHLSOnDemand && d.LiveHLSStart != LiveHLSAlways {
		bad("live-hls-start", "%q is not on-demand or always", d.LiveHLSStart)
	}
	if d.LiveHLSIdle < time.Second || d.LiveHLSIdle > 24*time.Hour {
		bad("live-hls-idle", "%v is not in 1s..24h", d.LiveHLSIdle)
	}
}
