package config

import (
	"strconv"
	"strings"
	"time"
)

// LiveHLS holds the settings of every live room's Low-Latency HLS output (/live/{room}/…,
// docs/LLHLS.md). It is embedded in Config, so its fields read as cfg.LiveHLSPart etc. The
// transcoder is --ffmpeg (Archive.FFmpeg).
type LiveHLS struct {
	// LiveHLSEnabled turns the LL-HLS output of live rooms on. --live-hls, default true.
	LiveHLSEnabled bool
	// LiveHLSLadder lists the extra renditions made from each room's video, by height
	// ("360p,540p"); a rung is made only from a source at least 1.5 times as tall. "none" makes
	// only the top rendition. --live-hls-ladder, default "360p".
	LiveHLSLadder string
	// LiveHLSPart is the partial segment target, 100ms..2s. --live-hls-part, default 333ms.
	LiveHLSPart time.Duration
	// LiveHLSSegment is the segment target (keyframes are asked for / forced this often),
	// 1s..10s and at least 3 parts. --live-hls-segment, default 2s.
	LiveHLSSegment time.Duration
	// LiveHLSWindow is how much of a show the live playlist keeps (the rewind window), 10s..6h.
	// --live-hls-window, default 5m.
	LiveHLSWindow time.Duration
	// LiveHLSLinger is how long a room's playlist outlives its publisher: one back within it
	// continues the same playlist after a discontinuity. 1s..10m. --live-hls-linger, default 30s.
	LiveHLSLinger time.Duration
	// LiveHLSDemand: on demand or always (--live-hls-start, --live-hls-idle; livehls_demand.go).
	LiveHLSDemand
}

// DefaultLiveHLS returns the documented live HLS defaults.
func DefaultLiveHLS() LiveHLS {
	return LiveHLS{LiveHLSEnabled: true, LiveHLSLadder: "360p", LiveHLSPart: 333 * time.Millisecond,
		LiveHLSSegment: 2 * time.Second, LiveHLSWindow: 5 * time.Minute, LiveHLSLinger: 30 * time.Second,
		LiveHLSDemand: DefaultLiveHLSDemand()}
}

// LiveHLSRungs parses LiveHLSLadder into heights, tallest first (nil for "none" or empty).
func (l LiveHLS) LiveHLSRungs() ([]int, error) {
	s := strings.TrimSpace(strings.ToLower(l.LiveHLSLadder))
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSuffix(strings.TrimSpace(f), "p")
		h, err := strconv.Atoi(f)
		if err != nil || h < 64 || h > 4320 || h%2 != 0 {
			return nil, ErrInvalid
		}
		for _, x := range out {
			if x == h {
				return nil, ErrInvalid
			}
		}
		out = append(out, h)
	}
	for i := 1; i < len(out); i++ { // insertion sort, tallest first (a handful of rungs)
		for j := i; j > 0 && out[j] > out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

func (l *LiveHLS) settings() []setting {
	return append([]setting{
		{"live-hls", "serve every live room as Low-Latency HLS under /live/{room}/index.m3u8", (*boolValue)(&l.LiveHLSEnabled)},
		{"live-hls-ladder", "extra live HLS renditions by `height`, comma separated (e.g. 360p,540p; made only from a source >= 1.5x as tall); none = the top one only", (*stringValue)(&l.LiveHLSLadder)},
		{"live-hls-part", "live HLS partial segment target (`duration`, 100ms..2s)", (*durationValue)(&l.LiveHLSPart)},
		{"live-hls-segment", "live HLS segment target (`duration`, 1s..10s): keyframes are asked for or forced this often", (*durationValue)(&l.LiveHLSSegment)},
		{"live-hls-window", "how much of a show the live HLS playlist keeps for rewind (`duration`, 10s..6h)", (*durationValue)(&l.LiveHLSWindow)},
		{"live-hls-linger", "how long (`duration`, 1s..10m) a room's live HLS outlives its publisher; one back within it continues the same playlist", (*durationValue)(&l.LiveHLSLinger)},
	}, l.LiveHLSDemand.settings()...)
}

func (l LiveHLS) validate(bad func(flagName, format string, args ...any)) {
	if _, err := l.LiveHLSRungs(); err != nil {
		bad("live-hls-ladder", "%q is not none or a list of distinct even heights like 360p,540p (64..4320)", l.LiveHLSLadder)
	}
	if l.LiveHLSPart < 100*time.Millisecond || l.LiveHLSPart > 2*time.Second {
		bad("live-hls-part", "%v is not in 100ms..2s", l.LiveHLSPart)
	}
	if l.LiveHLSSegment < time.Second || l.LiveHLSSegment > 10*time.Second {
		bad("live-hls-segment", "%v is not in 1s..10s", l.LiveHLSSegment)
	} else if l.LiveHLSSegment < 3*l.LiveHLSPart {
		bad("live-hls-segment", "%v is shorter than 3 parts of %v", l.LiveHLSSegment, l.LiveHLSPart)
	}
	if l.LiveHLSWindow < 10*time.Second || l.LiveHLSWindow > 6*time.Hour {
		bad("live-hls-window", "%v is not in 10s..6h", l.LiveHLSWindow)
	}
	if l.LiveHLSLinger < time.Second || l.LiveHLSLinger > 10*time.Minute {
		bad("live-hls-linger", "%v is not in 1s..10m", l.LiveHLSLinger)
	}
	l.LiveHLSDemand.validate(bad)
}
