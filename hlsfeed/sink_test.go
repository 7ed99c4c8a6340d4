package hlsfeed

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/livehls"
)

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spsOf(nalus [][]byte) []byte {
	for _, n := range nalus {
		if n[0]&0x1f == naluSPS {
			return n
		}
	}
	return nil
}

func sizeOf(t *testing.T, sps []byte) (int, int) {
	t.Helper()
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		t.Fatal(err)
	}
	return s.Width(), s.Height()
}

func newTestFeed(t *testing.T, p Params) (*Feed, *fakePackager) {
	t.Helper()
	pk := newFakePackager()
	p.Packager = pk
	if p.Stream.SegmentTarget == 0 {
		p.Stream = livehls.Config{SegmentTarget: time.Second}
	}
	p.QueueFrames = 4096
	f := New(p)
	t.Cleanup(func() { _ = f.Close() })
	return f, pk
}

// The top rendition of an H.264 room is the publisher's own bitstream (its SPS, its access
// units), with no ffmpeg for video; the audio is AAC from ffmpeg, on the same timeline.
func TestCopyH264WithAAC(t *testing.T) {
	c := newClip(t, testmedia.CodecH264, "320x240", 3*time.Second, 15)
	f, pk := newTestFeed(t, Params{})
	sink := f.OnLive(c.room("r1"))
	c.play(t, sink, 0, nil)
	st := pk.stream("r1")
	waitFor(t, 10*time.Second, "AAC", func() bool { st.mu.Lock(); defer st.mu.Unlock(); return st.aacN > 100 })
	if rs := sink.(*roomSink); rs.tc == nil || rs.tc.spec.fourcc != "" || !rs.tc.spec.audio {
		t.Fatalf("transcoder spec %+v: want audio only", rs.tc.spec)
	}
	_ = sink.Close()
	src := st.variant("src")
	if src == nil || len(st.order) != 1 {
		t.Fatalf("variants %v", st.order)
	}
	aus := src.snapshot()
	var pubSPS []byte
	for _, s := range c.samples {
		if s.Video {
			pubSPS = spsOf(splitAnnexB(s.Data))
			break
		}
	}
	if !bytes.Equal(spsOf(aus[0].nalus), pubSPS) || pubSPS == nil {
		t.Fatalf("first AU's SPS differs from the publisher's")
	}
	if w, h := sizeOf(t, pubSPS); w != 320 || h != 240 {
		t.Fatalf("size %dx%d", w, h)
	}
	if n := len(aus); n < 85 || n > 90 {
		t.Fatalf("%d access units of 90", n)
	}
	for i := 1; i < len(aus); i++ {
		if d := aus[i].pts - aus[i-1].pts; d < 30*time.Millisecond || d > 37*time.Millisecond {
			t.Fatalf("AU %d: step %v", i, d)
		}
	}
	if len(st.audio) != 1 || st.audio[0].SampleRate != 48000 || st.audio[0].Channels != 2 {
		t.Fatalf("audio %+v", st.audio)
	}
	// Video and audio started together in the clip: so they do on the timeline.
	if d := st.aac[0] - aus[0].pts; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("AAC starts %v after the video", d)
	}
	if st.ends != 1 {
		t.Fatalf("End called %d times", st.ends)
	}
}

// A VP8+Opus room is transcoded by one ffmpeg into H.264 renditions (the source's size and the
// ladder's) and AAC, with keyframes on the segment grid.
func TestTranscodeVP8Ladder(t *testing.T) {
	c := newClip(t, testmedia.CodecVP8, "640x360", 4*time.Second, 30)
	f, pk := newTestFeed(t, Params{Ladder: []int{540, 180}})
	sink := f.OnLive(c.room("r2"))
	c.play(t, sink, 4, nil)
	st := pk.stream("r2")
	waitFor(t, 15*time.Second, "both renditions", func() bool {
		a, b := st.variant("src"), st.variant("180p")
		return a != nil && b != nil && len(a.snapshot()) > 100 && len(b.snapshot()) > 100
	})
	if f.Stats().Transcoders != 1 {
		t.Fatalf("transcoders %d", f.Stats().Transcoders)
	}
	anchor := sink.(*roomSink).video.anchor // the media time of the first VP8 frame
	_ = sink.Close()
	// ffmpeg's output is on the stream's media timeline: its first frame is the first VP8 frame.
	if d := st.variant("src").snapshot()[0].pts - anchor; d < -5*time.Millisecond || d > 5*time.Millisecond {
		t.Fatalf("first transcoded frame %v off the first VP8 frame", d)
	}
	if len(st.order) != 2 || st.variant("540p") != nil {
		t.Fatalf("variants %v (no 540p from 360p)", st.order)
	}
	for name, want := range map[string][2]int{"src": {640, 360}, "180p": {320, 180}} {
		aus := st.variant(name).snapshot()
		sps := spsOf(aus[0].nalus)
		if sps == nil || !h264.IsRandomAccess(aus[0].nalus) {
			t.Fatalf("%s: first AU is not an IDR with SPS", name)
		}
		if w, h := sizeOf(t, sps); w != want[0] || h != want[1] {
			t.Fatalf("%s: %dx%d", name, w, h)
		}
		var keys []time.Duration
		for _, a := range aus {
			if h264.IsRandomAccess(a.nalus) {
				keys = append(keys, a.pts)
			}
		}
		for i := 1; i < len(keys); i++ {
			if d := keys[i] - keys[i-1]; d < 950*time.Millisecond || d > 1100*time.Millisecond {
				t.Fatalf("%s: keyframes %v apart (segment target 1s)", name, d)
			}
		}
		if len(keys) < 3 {
			t.Fatalf("%s: %d keyframes", name, len(keys))
		}
	}
	if st.aacN < 100 {
		t.Fatalf("%d AAC frames", st.aacN)
	}
}

// ffmpeg killed (SIGKILL) mid-show is restarted; the stream gets a discontinuity and goes on.
func TestTranscoderKilledRestarts(t *testing.T) {
	c := newClip(t, testmedia.CodecVP8, "320x240", 6*time.Second, 15)
	f, pk := newTestFeed(t, Params{RestartBackoff: 100 * time.Millisecond})
	room := c.room("r3")
	sink := f.OnLive(room)
	done := make(chan struct{})
	go func() { defer close(done); c.play(t, sink, 1, nil) }()
	st := pk.stream("r3")
	waitFor(t, 10*time.Second, "output", func() bool { v := st.variant("src"); return v != nil && len(v.snapshot()) > 20 })
	pid := f.TranscoderPID("r3")
	if pid == 0 {
		t.Fatal("no ffmpeg")
	}
	before := len(st.variant("src").snapshot())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a new ffmpeg", func() bool { p := f.TranscoderPID("r3"); return p != 0 && p != pid })
	waitFor(t, 5*time.Second, "output after the restart", func() bool { return len(st.variant("src").snapshot()) > before+30 })
	<-done
	_ = sink.Close()
	st.mu.Lock()
	nd := len(st.discont)
	st.mu.Unlock()
	if nd != 1 || f.Stats().Restarts != 1 {
		t.Fatalf("discontinuities %d, restarts %d", nd, f.Stats().Restarts)
	}
	aus := st.variant("src").snapshot()
	for i := 1; i < len(aus); i++ {
		if aus[i].dts <= aus[i-1].dts {
			t.Fatalf("AU %d: dts %v after %v", i, aus[i].dts, aus[i-1].dts)
		}
	}
	if f.Stats().Transcoders != 0 {
		t.Fatalf("%d ffmpeg still running after Close", f.Stats().Transcoders)
	}
}

// A publisher back within the linger continues the same stream: a discontinuity, media time
// going on after what the first session wrote.
func TestReconnectContinuesStream(t *testing.T) {
	c := newClip(t, testmedia.CodecH264, "320x240", 2*time.Second, 15)
	f, pk := newTestFeed(t, Params{})
	s1 := f.OnLive(c.room("r4"))
	c.play(t, s1, 0, nil)
	_ = s1.Close()
	st := pk.stream("r4")
	n1 := len(st.variant("src").snapshot())
	last1 := st.variant("src").snapshot()[n1-1].pts
	s2 := f.OnLive(c.room("r4"))
	if pk.stream("r4") != st {
		t.Fatal("a new stream")
	}
	c.play(t, s2, 0, nil)
	_ = s2.Close()
	aus := st.variant("src").snapshot()
	if len(aus) < 2*n1-2 || len(st.order) != 1 {
		t.Fatalf("%d AUs after %d; variants %v", len(aus), n1, st.order)
	}
	if aus[n1].pts <= last1 {
		t.Fatalf("second session starts at %v, before %v", aus[n1].pts, last1)
	}
	if len(st.discont) != 1 || st.ends != 2 {
		t.Fatalf("discontinuities %d, ends %d", len(st.discont), st.ends)
	}
}

// An H.264 room with a ladder: the top rendition copied, the rung from one ffmpeg that reads
// the same access units (IVF of H.264), keyframes of the rung on the segment grid.
func TestCopyH264Ladder(t *testing.T) {
	c := newClip(t, testmedia.CodecH264, "640x360", 3*time.Second, 30)
	f, pk := newTestFeed(t, Params{Ladder: []int{180}})
	sink := f.OnLive(c.room("r5"))
	c.play(t, sink, 4, nil)
	st := pk.stream("r5")
	waitFor(t, 15*time.Second, "the rung", func() bool { v := st.variant("180p"); return v != nil && len(v.snapshot()) > 60 })
	rs := sink.(*roomSink)
	if rs.tc.spec.fourcc != "H264" || len(rs.tc.spec.outs) != 1 || rs.tc.spec.outs[0].name != "180p" {
		t.Fatalf("spec %+v", rs.tc.spec)
	}
	_ = sink.Close()
	if w, h := sizeOf(t, spsOf(st.variant("180p").snapshot()[0].nalus)); w != 320 || h != 180 {
		t.Fatalf("rung %dx%d", w, h)
	}
	if w, h := sizeOf(t, spsOf(st.variant("src").snapshot()[0].nalus)); w != 640 || h != 360 {
		t.Fatalf("src %dx%d", w, h)
	}
}

// A VP8, VP9 or AV1 publisher that changes size: ffmpeg is restarted for the new size (read
// from the key frame), with a discontinuity; the top rendition's SPS then has the new size.
func TestTranscodeSizeChange(t *testing.T) {
	for _, codec := range []string{testmedia.CodecVP8, testmedia.CodecVP9, testmedia.CodecAV1} {
		t.Run(codec, func(t *testing.T) {
			c1 := newClip(t, codec, "320x240", 2*time.Second, 30)
			c2 := newClip(t, codec, "480x270", 2*time.Second, 30)
			c2.vp, c2.ap, c2.off = c1.vp, c1.ap, 2*time.Second
			f, pk := newTestFeed(t, Params{})
			sink := f.OnLive(c1.room("r6"))
			c1.play(t, sink, 4, nil)
			c2.play(t, sink, 4, nil)
			st := pk.stream("r6")
			var sizes [][2]int
			waitFor(t, 15*time.Second, "the new size", func() bool {
				sizes = sizes[:0]
				for _, a := range st.variant("src").snapshot() {
					if sps := spsOf(a.nalus); sps != nil {
						w, h := sizeOf(t, sps)
						if len(sizes) == 0 || sizes[len(sizes)-1] != [2]int{w, h} {
							sizes = append(sizes, [2]int{w, h})
						}
					}
				}
				return len(sizes) == 2
			})
			_ = sink.Close()
			if sizes[0] != [2]int{320, 240} || sizes[1] != [2]int{480, 270} {
				t.Fatalf("sizes %v", sizes)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if len(st.discont) != 1 || f.Stats().Restarts != 0 {
				t.Fatalf("discontinuities %d, restarts after deaths %d", len(st.discont), f.Stats().Restarts)
			}
		})
	}
}

// A new session of a room that starts before the old one closed takes the stream over: the old
// one stops writing and its Close does not end the stream.
func TestNewSessionTakesOver(t *testing.T) {
	c := newClip(t, testmedia.CodecH264, "320x240", time.Second, 15)
	f, pk := newTestFeed(t, Params{})
	s1 := f.OnLive(c.room("r7"))
	c.play(t, s1, 0, nil)
	st := pk.stream("r7")
	s2 := f.OnLive(c.room("r7"))
	n := len(st.variant("src").snapshot())
	c.play(t, s1, 0, nil) // the old session's late packets
	if got := len(st.variant("src").snapshot()); got != n {
		t.Fatalf("the superseded session wrote %d AUs", got-n)
	}
	_ = s1.Close()
	if st.ends != 0 {
		t.Fatal("the old session's Close ended the stream")
	}
	c.play(t, s2, 0, nil)
	_ = s2.Close()
	if st.ends != 1 || len(st.variant("src").snapshot()) <= n {
		t.Fatalf("ends %d", st.ends)
	}
	if f.Stats().Rooms != 0 {
		t.Fatalf("rooms %d after both closed", f.Stats().Rooms)
	}
}

// fakeFFmpeg writes a script standing in for ffmpeg.
func fakeFFmpeg(t *testing.T, body string) string {
	t.Helper()
	p := t.TempDir() + "/ffmpeg"
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// A transcoder that keeps dying is restarted MaxRestarts times, then given up: the copied
// H.264 goes on, no ffmpeg is left.
func TestTranscoderGivesUp(t *testing.T) {
	c := newClip(t, testmedia.CodecH264, "320x240", 2*time.Second, 15)
	f, pk := newTestFeed(t, Params{FFmpeg: fakeFFmpeg(t, "echo broken >&2; exit 1"), MaxRestarts: 2, RestartBackoff: 10 * time.Millisecond})
	sink := f.OnLive(c.room("r8"))
	c.play(t, sink, 0, nil)
	waitFor(t, 5*time.Second, "3 deaths", func() bool { return f.Stats().Restarts == 3 })
	time.Sleep(100 * time.Millisecond)
	if n := f.Stats().Restarts; n != 3 || f.Stats().Transcoders != 0 {
		t.Fatalf("restarts %d, running %d", n, f.Stats().Transcoders)
	}
	c.play(t, sink, 0, nil)
	_ = sink.Close()
	if n := len(pk.stream("r8").variant("src").snapshot()); n < 50 {
		t.Fatalf("%d copied AUs", n)
	}
}

// An ffmpeg that takes input but gives no output is killed and restarted.
func TestTranscoderHungKilled(t *testing.T) {
	c := newClip(t, testmedia.CodecH264, "320x240", 2*time.Second, 15)
	f, _ := newTestFeed(t, Params{FFmpeg: fakeFFmpeg(t, "exec sleep 30"), StallAfter: 300 * time.Millisecond, RestartBackoff: 10 * time.Millisecond})
	sink := f.OnLive(c.room("r9"))
	c.play(t, sink, 2, nil)
	_ = sink.Close()
	if n := f.Stats().Restarts; n < 1 || n > 4 {
		t.Fatalf("restarts %d", n)
	}
}
