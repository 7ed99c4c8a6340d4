package config

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLiveHLSFlagsAndEnv(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := c.ApplyEnv(func(k string) (string, bool) {
		v, ok := map[string]string{"RELAYCAST_LIVE_HLS_WINDOW": "10m"}[k]
		return v, ok
	}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--live-hls=false", "--live-hls-ladder", "540p, 360p", "--live-hls-part", "500ms",
		"--live-hls-segment", "3s", "--live-hls-linger", "1m", "--live-hls-start", "always", "--live-hls-idle", "30s"}); err != nil {
		t.Fatal(err)
	}
	want := LiveHLS{LiveHLSEnabled: false, LiveHLSLadder: "540p, 360p", LiveHLSPart: 500 * time.Millisecond,
		LiveHLSSegment: 3 * time.Second, LiveHLSWindow: 10 * time.Minute, LiveHLSLinger: time.Minute,
		LiveHLSDemand: LiveHLSDemand{LiveHLSStart: LiveHLSAlways, LiveHLSIdle: 30 * time.Second}}
	if c.LiveHLS != want {
		t.Fatalf("got %+v, want %+v", c.LiveHLS, want)
	}
	rungs, err := c.LiveHLSRungs()
	if err != nil || !reflect.DeepEqual(rungs, []int{540, 360}) {
		t.Fatalf("rungs %v, %v", rungs, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLiveHLSValidate(t *testing.T) {
	for _, tc := range []struct {
		flag string
		set  func(*LiveHLS)
	}{
		{"live-hls-ladder", func(l *LiveHLS) { l.LiveHLSLadder = "big" }},
		{"live-hls-ladder", func(l *LiveHLS) { l.LiveHLSLadder = "360p,360p" }},
		{"live-hls-ladder", func(l *LiveHLS) { l.LiveHLSLadder = "361p" }},
		{"live-hls-part", func(l *LiveHLS) { l.LiveHLSPart = 10 * time.Millisecond }},
		{"live-hls-segment", func(l *LiveHLS) { l.LiveHLSSegment = 20 * time.Second }},
		{"live-hls-segment", func(l *LiveHLS) { l.LiveHLSPart, l.LiveHLSSegment = time.Second, 2*time.Second }},
		{"live-hls-window", func(l *LiveHLS) { l.LiveHLSWindow = time.Second }},
		{"live-hls-linger", func(l *LiveHLS) { l.LiveHLSLinger = -time.Second }},
		{"live-hls-start", func(l *LiveHLS) { l.LiveHLSStart = "sometimes" }},
		{"live-hls-idle", func(l *LiveHLS) { l.LiveHLSIdle = 10 * time.Millisecond }},
	} {
		c := Default()
		tc.set(&c.LiveHLS)
		err := c.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--"+tc.flag+":") {
			t.Errorf("%s: %v", tc.flag, err)
		}
	}
	c := Default()
	c.LiveHLSLadder = "none"
	if r, err := c.LiveHLSRungs(); err != nil || r != nil {
		t.Fatalf("none: %v %v", r, err)
	}
}
