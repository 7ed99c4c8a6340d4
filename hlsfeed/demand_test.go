package hlsfeed

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testmedia"
)

// TestOnDemand (the packager's fake, real ffmpeg): a live room on demand opens no stream and
// runs no ffmpeg until a request; concurrent first requests start one feed; a request held
// keeps it; Idle after the last one it stops (ffmpeg gone, the stream removed), and the next
// request starts a new stream.
func TestOnDemand(t *testing.T) {
	c := newClip(t, testmedia.CodecH264, "320x240", 2*time.Second, 15)
	const idle = 400 * time.Millisecond
	f, pk := newTestFeed(t, Params{OnDemand: true, Idle: idle})
	room := c.room("od")
	sink := f.OnLive(room)
	c.play(t, sink, 0, nil)
	if o, _ := pk.counts(); o != 0 || f.Stats().Transcoders != 0 || f.Stats().Rooms != 0 || f.Stats().Dormant != 1 {
		t.Fatalf("a room nobody asked for: opens %d, stats %+v", o, f.Stats())
	}
	if h := f.Demand("other"); h.Held() {
		t.Fatal("a Hold on a room that is not live")
	}

	var wg sync.WaitGroup
	holds := make([]Hold, 16)
	for i := range holds {
		wg.Add(1)
		go func() { defer wg.Done(); holds[i] = f.Demand("od") }()
	}
	wg.Wait()
	if o, _ := pk.counts(); o != 1 || f.Stats().Starts != 1 || room.keys.Load() == 0 {
		t.Fatalf("16 concurrent first requests: %d opens, %d starts, %d keyframes asked", o, f.Stats().Starts, room.keys.Load())
	}
	c.off = 2 * time.Second
	c.play(t, sink, 0, nil)
	st := pk.stream("od")
	if st == nil || st.variant("src") == nil || len(st.variant("src").snapshot()) == 0 {
		t.Fatal("a started room's feed writes no video")
	}
	waitFor(t, 10*time.Second, "the room's ffmpeg (AAC)", func() bool { return f.Stats().Transcoders == 1 })
	pid := f.TranscoderPID("od")

	// Held: no stop, however long.
	time.Sleep(3 * idle)
	if f.Stats().IdleStops != 0 || f.Stats().Rooms != 1 {
		t.Fatalf("stopped while requests are held: %+v", f.Stats())
	}
	for _, h := range holds {
		h.Release()
	}
	t0 := time.Now()
	waitFor(t, 5*time.Second, "the idle stop", func() bool { return f.Stats().IdleStops == 1 })
	if d := time.Since(t0); d < idle-50*time.Millisecond {
		t.Fatalf("stopped %v after the last request, before the idle period %v", d, idle)
	}
	waitFor(t, 5*time.Second, "ffmpeg gone", func() bool { return f.Stats().Transcoders == 0 && !alive(pid) })
	st.mu.Lock()
	ended := st.ended
	st.mu.Unlock()
	if _, removed := pk.counts(); pk.stream("od") != nil || removed != 1 || !ended {
		t.Fatalf("the stopped room's stream: still there %v, removed %d, ended %v", pk.stream("od") != nil, removed, ended)
	}
	if s := f.Stats(); s.Rooms != 0 || s.Dormant != 1 {
		t.Fatalf("after the stop: %+v", s)
	}

	// The next request: a new stream, fed again.
	h := f.Demand("od")
	defer h.Release()
	c.off = 4 * time.Second
	c.play(t, sink, 0, nil)
	st2 := pk.stream("od")
	if o, _ := pk.counts(); o != 2 || st2 == nil || st2 == st || len(st2.discont) != 0 || st2.variant("src") == nil {
		t.Fatalf("restart: opens %d, a new stream %v, discontinuities %v", o, st2 != st, st2 != nil && len(st2.discont) > 0)
	}

	// The publisher reconnects while viewers watch: the next session starts at once.
	_ = sink.Close()
	sink2 := f.OnLive(room)
	if f.Stats().Rooms != 1 {
		t.Fatalf("a room watched a moment ago did not start with its new session: %+v", f.Stats())
	}
	_ = sink2.Close()
}

func alive(pid int) bool {
	if pid == 0 {
		return false
	}
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
