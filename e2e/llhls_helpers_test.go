package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/server"
)

// Helpers of the watch page's delayed-mode tests (llhls_*_test.go): a real WHIP publisher of a
// looping H.264 clip (remuxed into the live LL-HLS without re-encoding), and the page's figures.

var (
	llhlsClipOnce sync.Once
	llhlsClipV    string
	llhlsClipA    string
	llhlsClipErr  error
)

// llhlsClip is a 10 s H.264 clip with a keyframe every second (made once per test binary).
func llhlsClip(t *testing.T) (video, audio string) {
	t.Helper()
	needFFmpeg(t)
	llhlsClipOnce.Do(func() {
		dir, err := os.MkdirTemp("", "relaycast-llhls-clip-")
		if err != nil {
			llhlsClipErr = err
			return
		}
		llhlsClipV, llhlsClipA, llhlsClipErr = testmedia.Generate(testmedia.Params{Dir: dir, Duration: 10 * time.Second, Codec: testmedia.CodecH264})
	})
	if llhlsClipErr != nil {
		t.Fatalf("H.264 clip: %v", llhlsClipErr)
	}
	return llhlsClipV, llhlsClipA
}

// llhlsPublish publishes the looping H.264 clip to room over WHIP until the returned stop is
// called (or the test ends).
func llhlsPublish(t *testing.T, srv *server.Server, room string) (stop func()) {
	t.Helper()
	v, a := llhlsClip(t)
	pub, err := client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: v, Audio: a, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := srv.Signer().Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller-"+room)
	if err != nil {
		t.Fatal(err)
	}
	var loc string
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, client.WHIP(nil, srv.URL()+"/whip/"+room, tok, &loc)); err != nil {
		_ = pub.Close()
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = client.Delete(ctx, nil, loc, tok)
			_ = pub.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitLivePlaylist waits until GET /live/{room}/index.m3u8 answers a playlist.
func waitLivePlaylist(t *testing.T, base, room string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/live/" + room + "/index.m3u8")
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.HasPrefix(string(b), "#EXTM3U") {
				return
			}
			last = fmt.Sprintf("%d %.200s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no live playlist for %s within %s: %s", room, d, last)
}

// waitRoomLive waits until the room is live on srv (its publisher's media flows), without
// asking for its live HLS (which would start it on demand).
func waitRoomLive(t *testing.T, srv *server.Server, room string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, ok := srv.SFU().Room(room); ok {
			time.Sleep(time.Second) // its first keyframe reached the room
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("room %s not live within %s", room, d)
}

// hlsFigures is what window.relaycast.hls says.
type hlsFigures struct {
	Shown        string  `json:"shown"`
	Reason       string  `json:"reason"`
	Playing      bool    `json:"playing"`
	CurrentTime  float64 `json:"currentTime"`
	BehindEdge   float64 `json:"behindEdge"`
	Latency      float64 `json:"latency"`
	Rewound      bool    `json:"rewound"`
	Window       float64 `json:"windowSeconds"`
	PlayingDate  float64 `json:"playingDate"`
	BehindMs     float64 `json:"behindMs"`
	Frames       int     `json:"frames"`
	Badge        string  `json:"badge"`
	BadgeShown   bool    `json:"badgeShown"`
	SwitchesBack int     `json:"switchesBack"`
	Stalls       int     `json:"stalls"`
	Now          float64 `json:"now"`
	ServerNow    float64 `json:"serverNow"`
	Times        struct {
		WebRTCAsked         float64 `json:"webrtcAsked"`
		AskedBeforeFallback float64 `json:"askedBeforeFallback"`
		FallbackAt          float64 `json:"fallbackAt"`
		HLSPlayingAt        float64 `json:"hlsPlayingAt"`
		BackToWebRTCAt      float64 `json:"backToWebRTCAt"`
		PrewarmAt           float64 `json:"prewarmAt"`
	} `json:"times"`
}

const hlsFiguresJS = `(() => { const h = window.relaycast.hls; const b = document.getElementById("delayed-badge");
  return { shown: h.shown, reason: h.reason, playing: h.playing, currentTime: h.currentTime, behindEdge: h.behindEdge,
    latency: h.latency, rewound: h.rewound, windowSeconds: h.windowSeconds, playingDate: h.playingDate || 0,
    behindMs: h.behindMs, frames: h.frames(), badge: b ? b.textContent : "", badgeShown: !!b && !b.hidden && b.offsetParent !== null,
    switchesBack: h.switchesBack, stalls: h.stalls, times: h.times, now: Date.now(), serverNow: Date.now() + window.relaycast.live.offset }; })()`

func hlsNow(t *testing.T, ctx context.Context) hlsFigures {
	t.Helper()
	f, err := chromedp.Run(ctx, chromedp.Evaluate[hlsFigures](hlsFiguresJS))
	if err != nil {
		t.Fatalf("window.relaycast.hls: %v", err)
	}
	return f
}

// hlsAdvances checks that the HLS video plays: currentTime and presented frames go up over d.
func hlsAdvances(t *testing.T, ctx context.Context, d time.Duration) (before, after hlsFigures) {
	t.Helper()
	before, after, err := hlsAdvance(t, ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	return before, after
}

func hlsAdvance(t *testing.T, ctx context.Context, d time.Duration) (before, after hlsFigures, err error) {
	t.Helper()
	before = hlsNow(t, ctx)
	time.Sleep(d)
	after = hlsNow(t, ctx)
	if after.CurrentTime < before.CurrentTime+d.Seconds()*0.6 {
		return before, after, fmt.Errorf("HLS video currentTime went %.2f → %.2f in %s: not playing", before.CurrentTime, after.CurrentTime, d)
	}
	if after.Frames <= before.Frames+int(d.Seconds()*10) {
		return before, after, fmt.Errorf("HLS video presented %d → %d frames in %s", before.Frames, after.Frames, d)
	}
	return before, after, nil
}

// hlsPlaysSteadily waits (up to tries windows of d) for a window of d in which the HLS video
// plays: a picture that froze at the start (the page's watchdog starts hls.js again) is logged.
func hlsPlaysSteadily(t *testing.T, ctx context.Context, d time.Duration, tries int) hlsFigures {
	t.Helper()
	var err error
	for i := 0; i < tries; i++ {
		var after hlsFigures
		if _, after, err = hlsAdvance(t, ctx, d); err == nil {
			return after
		}
		t.Logf("not yet steady (%v); the page restarted a frozen picture %d time(s)", err, after.Stalls)
	}
	t.Fatal(err)
	return hlsFigures{}
}
