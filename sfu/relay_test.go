package sfu_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// pullRoom is a relay pull done by hand (cluster.Edge does it over WHEP): a Pion peer connection
// offering one audio and four video receivers subscribes to room on origin with Relay set, and
// the tracks it receives feed a Relay room on edge.
func pullRoom(t *testing.T, origin, edge *sfu.SFU, room string) (*sfu.Relay, *sfu.Subscriber, []*sfu.PulledTrack) {
	t.Helper()
	sub, tracks := pullTracks(t, origin, room)
	rl := relayOf(t, edge, room, tracks)
	return rl, sub, tracks
}

// relayOf makes a Relay room of pulled tracks on edge.
func relayOf(t *testing.T, edge *sfu.SFU, room string, tracks []*sfu.PulledTrack) *sfu.Relay {
	t.Helper()
	in := make([]sfu.IncomingTrack, len(tracks))
	for i, p := range tracks {
		in[i] = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rl, err := edge.Relay(ctx, sfu.RelayParams{Room: room, Tracks: in, Order: sfu.RelayOrder(tracks)})
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

// pullTracks subscribes to room on origin as a relay pull and returns the tracks it receives.
func pullTracks(t *testing.T, origin *sfu.SFU, room string) (*sfu.Subscriber, []*sfu.PulledTrack) {
	t.Helper()
	pc := loopbackPC(t)
	t.Cleanup(func() { _ = pc.Close() })
	kinds := []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan *sfu.PulledTrack, 8)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if p, ok := sfu.NewPulledTrack(tr, pc); ok {
			got <- p
		} else {
			t.Errorf("pulled track with id %q", tr.ID())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, answer, err := origin.Subscribe(ctx, sfu.SubscribeParams{Room: room, Offer: localOffer(t, pc), Relay: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	want := sfu.RelayTrackCount(answer)
	var tracks []*sfu.PulledTrack
	for len(tracks) < want {
		select {
		case p := <-got:
			tracks = append(tracks, p)
		case <-ctx.Done():
			t.Fatalf("got %d of %d pulled tracks", len(tracks), want)
		}
	}
	return sub, tracks
}

// TestRelayLateLayer: a layer that reaches a live room after another node pulled it (here the
// room is itself a relay whose top layer is added late) closes that node's pull, not the
// room's viewers; the next pull carries the new layer.
func TestRelayLateLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	origin, mid, edge := newSFU(t), newSFU(t), newSFU(t)
	publish(t, origin, "big", client.PublisherParams{Simulcast: true, Bitrate: 1_500_000})
	_, tracks := pullTracks(t, origin, "big")
	var early []*sfu.PulledTrack
	var top *sfu.PulledTrack
	for _, p := range tracks {
		if p.RID() == "f" {
			top = p
		} else {
			early = append(early, p)
		}
	}
	if top == nil || len(early) != 3 {
		t.Fatalf("pulled %d tracks without an f layer", len(tracks))
	}
	rl := relayOf(t, mid, "big", early) // mid goes live with audio, q and h
	waitFor(t, 5*time.Second, func() bool { _, ok := mid.Room("big"); return ok })
	viewer := newRecViewer(t, mid, "big", sfu.QualityHigh)
	waitWidth(t, viewer, 640, "mid viewer on h")
	_, sub, got := pullRoom(t, mid, edge, "big")
	if len(got) != 3 {
		t.Fatalf("edge pulled %d tracks, want audio + 2 layers", len(got))
	}
	rl.AddTrack(top) // f arrives late at mid
	select {
	case <-sub.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the pull without the late layer was kept")
	}
	select {
	case <-viewer.sub.Done():
		t.Fatal("the late layer closed a viewer")
	case <-time.After(200 * time.Millisecond):
	}
	waitWidth(t, viewer, 1280, "mid viewer on the late f layer")
	waitFor(t, 10*time.Second, func() bool { _, ok := edge.Room("big"); return !ok })
	if _, _, again := pullRoom(t, mid, edge, "big"); len(again) != 4 {
		t.Errorf("the next pull got %d tracks, want audio + 3 layers", len(again))
	}
}

// A simulcast room relayed to a second SFU: the pull gets every layer as its own track and counts
// as an edge, not a viewer; the edge's viewers choose layers themselves; a burst of keyframe
// requests at the edge reaches the publisher at most twice (once at once, once merged at the end
// of the throttle window); the room on the edge ends when the origin's ends.
func TestRelaySimulcast(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	before := runtime.NumGoroutine()
	t.Run("relay", func(t *testing.T) {
		origin, edge := newSFU(t), newSFU(t)
		pub, _ := publish(t, origin, "big", client.PublisherParams{Simulcast: true, Bitrate: 1_500_000})
		_, sub, tracks := pullRoom(t, origin, edge, "big")
		if len(tracks) != 4 {
			t.Fatalf("pulled %d tracks, want audio + 3 layers", len(tracks))
		}
		if got := sfu.RelayOrder(tracks); len(got) != 3 || got[0] != "q" || got[2] != "f" {
			t.Errorf("relay order %v", got)
		}
		waitFor(t, 5*time.Second, func() bool { return origin.Stats().Edges == 1 })
		if info, _ := origin.Room("big"); info.Edges != 1 || info.Viewers != 0 || origin.Stats().Viewers != 0 {
			t.Errorf("origin counts the pull as %+v, stats viewers %d", info, origin.Stats().Viewers)
		}
		if info, ok := edge.Room("big"); !ok || !info.Relayed || len(info.Codecs) != 2 || edge.Stats().Relays != 1 {
			t.Fatalf("edge room %+v %v, relays %d", info, ok, edge.Stats().Relays)
		}

		high := newRecViewer(t, edge, "big", sfu.QualityHigh)
		low := newRecViewer(t, edge, "big", sfu.QualityLow)
		waitWidth(t, high, 1280, "edge viewer on high")
		waitWidth(t, low, 320, "edge viewer on low")
		if st, ok := high.sub.Layer(); !ok || len(st.Layers) != 3 {
			t.Errorf("edge viewer's layers %+v %v", st, ok)
		}
		if info, _ := origin.Room("big"); info.Edges != 1 || info.Viewers != 0 {
			t.Errorf("origin with two edge viewers: %+v", info)
		}

		time.Sleep(time.Second) // let the joins' keyframe requests pass the throttle windows
		plis := pub.LayerPLIs("f")
		high.mu.Lock()
		ssrc := high.videoSSRC
		high.mu.Unlock()
		for range 20 {
			if err := high.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		waitFor(t, 3*time.Second, func() bool { return pub.LayerPLIs("f") > plis })
		time.Sleep(time.Second)
		if n := pub.LayerPLIs("f") - plis; n < 1 || n > 2 {
			t.Errorf("20 keyframe requests at the edge reached the publisher %d times, want 1 or 2", n)
		}

		_ = pub.Close()
		waitFor(t, 10*time.Second, func() bool { _, ok := edge.Room("big"); return !ok })
		select {
		case <-sub.Done():
		case <-time.After(5 * time.Second):
			t.Error("the origin kept the pull after its room ended")
		}
		waitFor(t, 5*time.Second, func() bool { return edge.Stats().Relays == 0 && edge.Stats().Viewers == 0 })
	})
	waitGoroutines(t, before)
}

// A publisher arriving on the node replaces the node's relay of the room; a relay of a room that
// is live here is refused.
func TestRelayReplacedByPublisher(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("replace", func(t *testing.T) {
		origin, edge := newSFU(t), newSFU(t)
		publish(t, origin, "r", client.PublisherParams{})
		rl, _, tracks := pullRoom(t, origin, edge, "r")
		in := []sfu.IncomingTrack{tracks[0]}
		if _, err := edge.Relay(context.Background(), sfu.RelayParams{Room: "r", Tracks: in}); err == nil {
			t.Error("a second relay of a live room was accepted")
		}
		publish(t, edge, "r", client.PublisherParams{})
		select {
		case <-rl.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the relay did not end when a publisher arrived")
		}
		if info, ok := edge.Room("r"); !ok || info.Relayed {
			t.Errorf("edge room after the publisher arrived: %+v %v", info, ok)
		}
	})
	waitGoroutines(t, before)
}

func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before+2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}
