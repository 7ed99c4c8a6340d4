//go:build unix

package transcode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/storage"
)

type measureRoom struct{}

func (measureRoom) Name() string     { return "measure" }
func (measureRoom) RequestKeyframe() {}
func (measureRoom) Tracks() []sfu.TrackInfo {
	return []sfu.TrackInfo{mVideo, mAudio}
}

var (
	mVideo = sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, SSRC: 1}
	mAudio = sfu.TrackInfo{Index: 1, Kind: webrtc.RTPCodecTypeAudio, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}, SSRC: 2}
)

// record runs a clip through the recorder (as RTP, on a fake clock) and returns its chunks.
func record(t *testing.T, video, audio string, chunk time.Duration) []recorder.ChunkInfo {
	t.Helper()
	samples, err := testmedia.Read(video, audio)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var chunks []recorder.ChunkInfo
	r, err := recorder.New(recorder.Params{Dir: t.TempDir(), ChunkDuration: chunk, Now: func() time.Time { return now },
		Hooks: recorder.Hooks{Chunk: func(c recorder.ChunkInfo) { chunks = append(chunks, c) }}})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Attach(measureRoom{})
	vp := rtp.NewPacketizer(1200, 96, 1, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 111, 2, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	t0 := now
	for _, smp := range samples {
		info, pz, rate := mAudio, ap, 48000.0
		if smp.Video {
			info, pz, rate = mVideo, vp, 90000
		}
		now = t0.Add(smp.At)
		for _, p := range pz.Packetize(smp.Data, 0) {
			p.Timestamp = uint32(smp.At.Seconds() * rate)
			if err := s.WriteRTP(info, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return chunks
}

// TestMeasureSpeed compares the pipeline (the recorder's chunks, one ffmpeg run each) with one
// plain ffmpeg run of the same ladder over the whole clip. Run it with
//
//	RELAYCAST_MEASURE=60s go test -run TestMeasureSpeed -v ./transcode
func TestMeasureSpeed(t *testing.T) {
	env := os.Getenv("RELAYCAST_MEASURE")
	if env == "" {
		t.Skip("set RELAYCAST_MEASURE=<clip duration> to measure")
	}
	needFFmpeg(t)
	d, err := time.ParseDuration(env)
	if err != nil {
		t.Fatal(err)
	}
	size := os.Getenv("RELAYCAST_MEASURE_SIZE")
	if size == "" {
		size = "1280x720"
	}
	var w, h int
	_, _ = fmtSscanf(size, &w, &h)
	dir := t.TempDir()
	video, audio, err := testmedia.Generate(testmedia.Params{Dir: dir, Duration: d, Size: size, GOP: 60})
	if err != nil {
		t.Fatal(err)
	}
	ladder := Ladder(w, h, 0)

	// Plain: one ffmpeg run, same ladder and options, whole clip.
	out := filepath.Join(dir, "plain")
	for _, r := range ladder {
		_ = os.MkdirAll(filepath.Join(out, r.Name), 0o755)
	}
	args := ffmpegArgs(ChunkPayload{Video: &Track{}, Audio: &Track{}}, encodeIn{video: video, audio: audio}, ladder, out, "veryfast")
	began, cpu0 := time.Now(), childCPU()
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("plain ffmpeg: %v %s", err, b)
	}
	plain, plainCPU := time.Since(began), childCPU()-cpu0

	// Pipeline: recorder chunks → upload → per-chunk ffmpeg → upload → playlists.
	chunks := record(t, video, audio, 10*time.Second)
	st, _ := storage.NewLocal(storage.LocalParams{Dir: filepath.Join(dir, "store")})
	hd := NewHandler(HandlerParams{Store: st})
	ctx := context.Background()
	var payloads []ChunkPayload
	for _, c := range chunks {
		p := ChunkPayload{RecordingID: "m", Index: c.Index, Start: c.Start, Duration: c.Duration, Width: c.Width, Height: c.Height}
		for _, tf := range []struct {
			in  *recorder.TrackFile
			out **Track
		}{{c.Video, &p.Video}, {c.Audio, &p.Audio}} {
			key := RawKey("m", c.Index, filepath.Base(tf.in.Path))
			f, _ := os.Open(tf.in.Path)
			_ = st.Put(ctx, key, f, -1)
			_ = f.Close()
			*tf.out = &Track{Key: key, Offset: tf.in.Offset}
		}
		payloads = append(payloads, p)
	}
	putEnd(t, st, "m", len(payloads))
	began, cpu0 = time.Now(), childCPU()
	for _, p := range payloads {
		if err := hd.Chunk(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pipe, pipeCPU := time.Since(began), childCPU()-cpu0
	t.Logf("ffmpeg CPU time: plain %.2f s, pipeline %.2f s (incl. poster); pipeline speed by CPU = %.2f × plain",
		plainCPU.Seconds(), pipeCPU.Seconds(), plainCPU.Seconds()/pipeCPU.Seconds())
	t.Logf("clip %v %s, ladder %d rungs, %d chunks: plain ffmpeg %.2f s (%.2fx realtime), pipeline %.2f s (%.2fx realtime); pipeline speed = %.2f × plain",
		d, size, len(ladder), len(payloads), plain.Seconds(), d.Seconds()/plain.Seconds(), pipe.Seconds(), d.Seconds()/pipe.Seconds(), plain.Seconds()/pipe.Seconds())
}

func fmtSscanf(s string, w, h *int) (int, error) { return fmt.Sscanf(s, "%dx%d", w, h) }

// childCPU is the user+system CPU time of every child process waited for so far.
func childCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
