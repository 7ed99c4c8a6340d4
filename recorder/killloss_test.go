package recorder

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/relaycast/relaycast/internal/testmedia"
)

// onDisk returns the end (recording timeline, s) of the video and audio the recorder has written
// to the files of recording dir so far: what a SIGKILL at this moment would leave.
func onDisk(t *testing.T, dir string) (video, audio float64) {
	t.Helper()
	chunks, _ := filepath.Glob(filepath.Join(dir, "*", "c*", chunkFile))
	for _, cf := range chunks {
		var c ChunkInfo
		if b, err := os.ReadFile(cf); err != nil || json.Unmarshal(b, &c) != nil {
			t.Fatalf("%s: %v", cf, err)
		}
		if c.Video != nil {
			b, _ := os.ReadFile(c.Video.Path)
			for off := 32; off+12 <= len(b); {
				n := int(binary.LittleEndian.Uint32(b[off:]))
				if off+12+n > len(b) {
					break
				}
				video = max(video, c.Start+c.Video.Offset+float64(binary.LittleEndian.Uint64(b[off+4:]))/90000+1.0/30)
				off += 12 + n
			}
		}
		if c.Audio != nil {
			b, _ := os.ReadFile(c.Audio.Path)
			for off := 0; off+27 <= len(b); {
				nseg := int(b[off+26])
				size := 27 + nseg
				for _, s := range b[off+27 : off+27+nseg] {
					size += int(s)
				}
				if off+size > len(b) {
					break
				}
				audio = max(audio, c.Start+c.Audio.Offset+float64(binary.LittleEndian.Uint64(b[off+6:]))/48000)
				off += size
			}
		}
	}
	return video, audio
}

// chunksOnDisk counts the chunk directories of the recordings under dir.
func chunksOnDisk(t *testing.T, dir string) int {
	t.Helper()
	cs, _ := filepath.Glob(filepath.Join(dir, "*", "c*", chunkFile))
	return len(cs)
}

// TestKillLossBounded: what a SIGKILL can lose is what the recorder holds in memory. With a
// video packet lost for good (never resent) and an audio packet lost, the media on disk never
// trails what has arrived by more than 0.5 s, at any moment: the jitter buffers skip a gap after a
// bounded time (not 256 packets, seconds of video) and audio is not held back for video longer.
// Recorder.Positions (what the archive's beat notes for a takeover) is never behind the disk.
func TestKillLossBounded(t *testing.T) {
	samples := needMedia(t)
	var h hookLog
	clk := &clock{now: time.Now()}
	r, room := newRec(t, &h, clk)
	s := r.Attach(room)
	vp := rtp.NewPacketizer(1200, 96, videoInfo.SSRC, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 111, audioInfo.SSRC, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	t0 := clk.Now()
	lostVideo, lostAudio, skipped := false, false, false
	worst, worstAt := 0.0, 0.0
	for _, smp := range samples {
		if smp.At > 6*time.Second {
			break
		}
		info, pz, rate := audioInfo, ap, 48000.0
		if smp.Video {
			info, pz, rate = videoInfo, vp, 90000
		}
		pkts := pz.Packetize(smp.Data, 0)
		for _, p := range pkts {
			p.Timestamp = 1000 + uint32(smp.At.Seconds()*rate)
		}
		switch {
		case smp.Video && !lostVideo && smp.At > 2*time.Second && len(pkts) > 1:
			pkts, lostVideo = pkts[1:], true // the frame's first packet never comes
		case !smp.Video && !lostAudio && smp.At > 4*time.Second:
			pkts, lostAudio = nil, true
		}
		clk.set(t0.Add(smp.At))
		for _, p := range pkts {
			if err := s.WriteRTP(info, p); err != nil {
				t.Fatal(err)
			}
		}
		if smp.At < time.Second || !smp.Video || smp.At%(100*time.Millisecond) >= 34*time.Millisecond {
			continue // checked every 100 ms
		}
		v, a := onDisk(t, r.Dir())
		// The position the archive's beat notes (a takeover starts after it, plus its slack):
		// never behind what is on disk.
		if pos := r.Positions()[s.ID()]; pos.End < max(v, a)-1e-6 || pos.Chunks < chunksOnDisk(t, r.Dir()) {
			t.Fatalf("at %.2f s: position %+v behind the disk (media to %.3f s, %d chunks)", smp.At.Seconds(), pos, max(v, a), chunksOnDisk(t, r.Dir()))
		}
		if s.skippingVideo() {
			// After the lost packet the frames up to the next keyframe reference the lost
			// frame: they are dropped, not held (nothing a SIGKILL could lose), so only audio counts.
			skipped = true
			v = smp.At.Seconds()
		}
		if lag := smp.At.Seconds() - min(v, a); lag > worst {
			worst, worstAt = lag, smp.At.Seconds()
		}
	}
	if !skipped {
		t.Error("the frames after the lost packet were written (they reference the lost frame)")
	}
	if s.skippingVideo() {
		t.Error("video still skipped long after the loss: the next keyframe did not end it")
	}
	t.Logf("the media on disk trailed the packets arrived by at most %.3f s (at %.2f s)", worst, worstAt)
	if worst > 0.5 {
		t.Errorf("a SIGKILL at %.2f s would lose %.3f s: want at most 0.5 s", worstAt, worst)
	}
	if room.plis.Load() == 0 {
		t.Error("no keyframe asked for after the video loss")
	}
	_ = s.Close()
}

// TestFirstKeyframeAsked: a recorder that starts mid-GOP (it attached after the keyframe went by)
// asks for a keyframe at once and again every firstKeyAsk while it waits, so the recording starts
// a round trip later instead of at the publisher's next scheduled keyframe.
func TestFirstKeyframeAsked(t *testing.T) {
	samples := needMedia(t)
	var h hookLog
	clk := &clock{now: time.Now()}
	r, room := newRec(t, &h, clk)
	s := r.Attach(room)
	// Feed from just after the first keyframe for 0.8 s (the clip's next keyframe is at 1 s).
	start := time.Now()
	feedFrom(t, s, clk, samples, 100*time.Millisecond, 900*time.Millisecond)
	elapsed := time.Since(start)
	// The requests are paced by the wall clock (the SFU throttles them the same way).
	want := 1 + int64(elapsed/firstKeyAsk)
	if got := room.plis.Load(); got < 1 || got < want-1 {
		t.Errorf("%d keyframe requests while waiting %v for the first keyframe, want about %d", got, elapsed, want)
	}
	_ = s.Close()
}

// feedFrom writes the samples between from and until to the sink at the pace of their timestamps
// (the recorder's keyframe requests are paced by the wall clock).
func feedFrom(t *testing.T, s *Sink, clk *clock, samples []testmedia.Sample, from, until time.Duration) {
	t.Helper()
	vp := rtp.NewPacketizer(1200, 96, videoInfo.SSRC, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 111, audioInfo.SSRC, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	t0, wall := clk.Now(), time.Now()
	for _, smp := range samples {
		if smp.At < from {
			continue
		}
		if smp.At >= until {
			break
		}
		time.Sleep(time.Until(wall.Add(smp.At - from)))
		info, pz, rate := audioInfo, ap, 48000.0
		if smp.Video {
			info, pz, rate = videoInfo, vp, 90000
		}
		clk.set(t0.Add(smp.At - from))
		for _, p := range pz.Packetize(smp.Data, 0) {
			p.Timestamp = 1000 + uint32(smp.At.Seconds()*rate)
			if err := s.WriteRTP(info, p); err != nil {
				t.Fatal(err)
			}
		}
	}
}
