package hlsfeed

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/livehls"
)

// The soak's finding (docs/RELIABILITY.md "Soak"): the last room that ended kept its live HLS
// stream — its whole window of segments and parts — in the feed for good, because ended streams
// were forgotten only when another room went live. Now the stream goes 2×Linger after the end
// with no other room, and is garbage: nothing references it any more.
func TestEndedStreamForgottenWithoutAnotherRoom(t *testing.T) {
	const linger = 150 * time.Millisecond
	srv := livehls.NewServer(livehls.ServerConfig{Linger: linger})
	defer srv.Close()
	f := New(Params{Packager: LiveHLS(srv), Linger: linger, QueueFrames: 4096,
		Stream: livehls.Config{SegmentTarget: time.Second, PartTarget: 200 * time.Millisecond}})
	defer f.Close()
	c := newClip(t, testmedia.CodecH264, "320x240", 3*time.Second, 30)
	sink := f.OnLive(c.room("gone"))
	c.play(t, sink, 0, nil)
	st, ok := srv.Stream("gone")
	if !ok {
		t.Fatal("no live HLS stream while the room is live")
	}
	var collected atomic.Bool
	runtime.AddCleanup(st, func(b *atomic.Bool) { b.Store(true) }, &collected)
	st = nil
	_ = sink.Close()
	if _, ok := srv.Stream("gone"); !ok {
		t.Fatal("the ended stream does not linger")
	}
	waitFor(t, 10*time.Second, "the feed to forget the ended stream", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.streams) == 0
	})
	if _, ok := srv.Stream("gone"); ok {
		t.Fatal("the packager still has the stream after its linger")
	}
	waitFor(t, 5*time.Second, "the ended stream to be garbage collected", func() bool {
		runtime.GC()
		return collected.Load()
	})
}
