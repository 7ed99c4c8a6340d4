package server_test

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
)

// A WHIP publisher of H.264 simulcast (three layers of real x264 video) in a recorded room:
// the live HLS (behind the tee with the recorder) has one copied rendition per layer at its
// own height, the room's ffmpeg takes no video, and each rendition's segment decodes.
func TestLiveHLSSimulcastLayers(t *testing.T) {
	var layers []string
	var audio string
	for _, size := range []string{"320x180", "640x360", "1280x720"} {
		layers = append(layers, "")
		layers[len(layers)-1], audio = liveClip(t, testmedia.CodecH264, size, 4*time.Second)
	}
	loop, err := client.H264SimulcastLoop(layers, audio)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, func(c *config.Config) { liveHLSConfig("360p")(c); c.Record = true })
	if s.Archive() == nil {
		t.Fatal("no recorder: the live HLS is not behind the tee")
	}
	room := liveRoom("hls-sim")
	params := client.PublisherParams{Config: client.Config{Loopback: true}, Simulcast: true, VideoMime: webrtc.MimeTypeH264,
		KeyframesOnRequest: true, Media: loop}
	pub, err := client.NewPublisher(params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	var loc string
	if err := pub.Connect(ctxT(t), client.WHIP(nil, s.url+"/whip/"+room, s.token(t, room, auth.GrantPublish), &loc)); err != nil {
		t.Fatal(err)
	}
	mv := waitMultivariant(t, s.url, room, 3, 20*time.Second)
	want := map[string][2]int{"src/index.m3u8": {1280, 720}, "360p/index.m3u8": {640, 360}, "180p/index.m3u8": {320, 180}}
	for _, v := range mv.Variants {
		if wh, ok := want[v.URI]; !ok || v.Resolution != fmt.Sprintf("%dx%d", wh[0], wh[1]) || len(mv.Variants) != 3 {
			t.Fatalf("rendition %s %s; want %v", v.URI, v.Resolution, want)
		}
	}
	for uri, wh := range want {
		m, mu, _ := waitSegments(t, s.url, room, uri, 2, 15*time.Second)
		streams := probe(t, mustGet(t, resolve(t, mu, m.Map.URI)), mustGet(t, resolve(t, mu, m.Segments[1].URI)))
		if !slices.Contains(streams, fmt.Sprintf("h264|video|%d|%d", wh[0], wh[1])) || !slices.Contains(streams, "aac|audio") {
			t.Fatalf("%s: segment streams %q, want H.264 %v + AAC", uri, streams, wh)
		}
	}
	if kids := ffmpegChildren(t); len(kids) != 1 || regexp.MustCompile(`libx264|-f ivf`).MatchString(fmt.Sprint(kids)) {
		t.Fatalf("ffmpeg processes %v, want one for the audio only", kids)
	}
}
