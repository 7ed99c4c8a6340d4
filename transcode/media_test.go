package transcode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/storage"
)

// runRecorded uploads recorded chunks, runs each chunk's task and the end, and returns the
// updates and the storage directory.
func runRecorded(t *testing.T, chunks []recorder.ChunkInfo) (*recorded, string, string) {
	t.Helper()
	if len(chunks) == 0 {
		t.Fatal("the recorder wrote no chunk")
	}
	dir := t.TempDir()
	st, _ := storage.NewLocal(storage.LocalParams{Dir: dir, BaseURL: "/vod/"})
	rec := &recorded{}
	h := NewHandler(HandlerParams{Store: st, Notify: rec.notify, MaxRungs: 1, Preset: "ultrafast", TmpDir: t.TempDir()})
	ctx := context.Background()
	id := chunks[0].RecordingID
	for _, c := range chunks {
		p := ChunkPayload{RecordingID: id, Index: c.Index, Start: c.Start, Duration: c.Duration, Width: c.Width, Height: c.Height}
		for _, tf := range []struct {
			in  *recorder.TrackFile
			out **Track
		}{{c.Video, &p.Video}, {c.Audio, &p.Audio}} {
			if tf.in == nil {
				continue
			}
			key := RawKey(id, c.Index, filepath.Base(tf.in.Path))
			f, err := os.Open(tf.in.Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, key, f, -1); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
			*tf.out = &Track{Key: key, Codec: tf.in.Codec, Offset: tf.in.Offset}
		}
		task, _ := NewChunkTask(p)
		if err := h.ProcessTask(ctx, task); err != nil {
			t.Fatalf("chunk %d: %v", c.Index, err)
		}
	}
	putEnd(t, st, id, len(chunks))
	if _, err := h.TryFinalize(ctx, id); err != nil {
		t.Fatal(err)
	}
	return rec, dir, id
}

func track(u Update, kind string) (TrackState, bool) {
	for _, t := range u.Tracks {
		if t.Kind == kind {
			return t, true
		}
	}
	return TrackState{}, false
}

// streams is the codec types ffprobe finds in a playlist and its duration.
func streams(t *testing.T, pl string) (video, audio bool, dur float64) {
	t.Helper()
	p := ffprobe(t, pl)
	for _, s := range p.Streams {
		video = video || s.CodecType == "video"
		audio = audio || s.CodecType == "audio"
	}
	return video, audio, atof(p.Format.Duration)
}

// TestBadAudioKeepsVideo: a broadcast whose audio is noise sent as Opus (every packet refused by
// the decoder, as from the loadtest's synthetic publisher) and whose video is real (15 fps: more
// audio packets fail than video frames decode, which made ffmpeg exit 69) becomes a
// ready recording of its video, saying the audio was dropped and why (defect 2).
func TestBadAudioKeepsVideo(t *testing.T) {
	needFFmpeg(t)
	for _, tc := range []struct {
		name  string
		codec string
		info  sfu.TrackInfo
	}{{"vp8", testmedia.CodecVP8, nVP8}, {"h264", testmedia.CodecH264, nH264}} {
		t.Run(tc.name, func(t *testing.T) {
			const dur = 4 * time.Second
			s := append(clipSamples(t, tc.codec, 15, dur, false), noiseOpus(dur, 0xff)...)
			rec, dir, id := runRecorded(t, recordSamples(t, tc.info, s, 2*time.Second))
			if n := rec.count(UpdateFailed); n != 0 {
				f, _ := rec.last(UpdateFailed)
				t.Fatalf("%d failed updates: %+v", n, f)
			}
			u, ok := rec.last(UpdateReady)
			if !ok {
				t.Fatalf("not ready: %+v", rec.updates)
			}
			a, _ := track(u, "audio")
			v, _ := track(u, "video")
			if !a.Dropped || a.Reason == "" || a.Codec != "opus" || v.Dropped || v.Codec != tc.name {
				t.Fatalf("tracks %+v", u.Tracks)
			}
			if u.Error != MsgAudioDropped {
				t.Errorf("note %q", u.Error)
			}
			if !strings.Contains(u.Log, "Error parsing the packet header. ×") || strings.Contains(u.Log, "0x") {
				t.Errorf("log %q", u.Log)
			}
			if math.Abs(u.Duration-dur.Seconds()) > 0.5 || len(u.Renditions) != 1 || u.Renditions[0] != "360p" {
				t.Fatalf("ready %+v", u)
			}
			hasV, _, d := streams(t, filepath.Join(dir, "rec", id, "360p", "index.m3u8"))
			if !hasV || math.Abs(d-dur.Seconds()) > 0.5 {
				t.Fatalf("VOD: video %v, %.2f s", hasV, d)
			}
		})
	}
}

// TestNoiseVideoIsAudioOnly: video that never decodes and audio that does (the other half of
// the synthetic publisher's recordings) is a ready audio-only recording with the audio's real
// duration, never a "ready" one of 0 s (defect 8).
func TestNoiseVideoIsAudioOnly(t *testing.T) {
	needFFmpeg(t)
	const dur = 4 * time.Second
	s := append(noiseVP8(dur), clipSamples(t, testmedia.CodecVP8, 30, dur, true)...)
	rec, dir, id := runRecorded(t, recordSamples(t, nVP8, s, 2*time.Second))
	u, ok := rec.last(UpdateReady)
	if !ok {
		t.Fatalf("not ready: %+v", rec.updates)
	}
	v, _ := track(u, "video")
	a, _ := track(u, "audio")
	if !v.Dropped || a.Dropped || u.Error != MsgVideoDropped {
		t.Fatalf("tracks %+v, note %q", u.Tracks, u.Error)
	}
	if len(u.Renditions) != 1 || u.Renditions[0] != "audio" || math.Abs(u.Duration-dur.Seconds()) > 0.5 {
		t.Fatalf("ready %+v", u)
	}
	master, _ := os.ReadFile(filepath.Join(dir, MasterKey(id)))
	if strings.Contains(string(master), "RESOLUTION") || !strings.Contains(string(master), "audio/index.m3u8") {
		t.Fatalf("master:\n%s", master)
	}
	hasV, hasA, d := streams(t, filepath.Join(dir, "rec", id, "audio", "index.m3u8"))
	if hasV || !hasA || math.Abs(d-dur.Seconds()) > 0.5 {
		t.Fatalf("audio VOD: video %v audio %v %.2f s", hasV, hasA, d)
	}
}

// TestNothingDecodes: noise video and noise audio: the recording fails, saying so in one
// sentence, with the decoders' output as its log, and is not worth a retry (defect 2, 8).
func TestNothingDecodes(t *testing.T) {
	needFFmpeg(t)
	const dur = 4 * time.Second
	s := append(noiseVP8(dur), noiseOpus(dur, 0xff)...)
	rec, _, _ := runRecorded(t, recordSamples(t, nVP8, s, 2*time.Second))
	if rec.count(UpdateReady) != 0 {
		t.Fatalf("ready: %+v", rec.updates)
	}
	u, ok := rec.last(UpdateFailed)
	if !ok {
		t.Fatalf("no failure: %+v", rec.updates)
	}
	if u.Error != MsgNothingDecodes || u.Retryable || u.Log == "" || len(u.Log) > MaxLog {
		t.Fatalf("failed %+v", u)
	}
	for _, k := range []string{"video", "audio"} {
		if ts, _ := track(u, k); !ts.Dropped {
			t.Errorf("%s not dropped: %+v", k, u.Tracks)
		}
	}
}

// TestMixedChunks: audio that decodes in one chunk and not in the next: the recording keeps the
// audio (silence where it did not decode), the playlist has no gaps, the track says where it was lost.
func TestMixedChunks(t *testing.T) {
	needFFmpeg(t)
	const dur = 4 * time.Second
	good := clipSamples(t, testmedia.CodecVP8, 30, dur, true)
	var audio []testmedia.Sample
	for _, s := range good {
		if s.At < 2*time.Second {
			audio = append(audio, s)
		}
	}
	for _, s := range noiseOpus(dur, 0xff) {
		if s.At >= 2*time.Second {
			audio = append(audio, s)
		}
	}
	s := append(clipSamples(t, testmedia.CodecVP8, 30, dur, false), audio...)
	chunks := recordSamples(t, nVP8, s, 2*time.Second)
	if len(chunks) < 2 {
		t.Fatalf("%d chunks", len(chunks))
	}
	rec, dir, id := runRecorded(t, chunks)
	u, ok := rec.last(UpdateReady)
	if !ok {
		t.Fatalf("not ready: %+v", rec.updates)
	}
	a, _ := track(u, "audio")
	if a.Dropped || !strings.Contains(a.Reason, "of") || u.Error != "" {
		t.Fatalf("tracks %+v note %q", u.Tracks, u.Error)
	}
	checkVOD(t, dir, id, dur.Seconds(), []string{"360p"})
}

// TestUnknownVideoCodecAlone: a chunk whose only track is in a codec the handler does not
// transcode is not downloaded, is dropped naming the codec, and the recording fails for good.
func TestUnknownVideoCodecAlone(t *testing.T) {
	st, _ := storage.NewLocal(storage.LocalParams{Dir: t.TempDir()})
	rec := &recorded{}
	h := NewHandler(HandlerParams{Store: st, Notify: rec.notify, TmpDir: t.TempDir()})
	task, _ := NewChunkTask(ChunkPayload{RecordingID: "h265", Video: &Track{Key: RawKey("h265", 0, "video.ivf"), Codec: "video/H265"}})
	if err := h.ProcessTask(context.Background(), task); err != nil {
		t.Fatalf("chunk: %v (the raw file was never uploaded: it must not be read)", err)
	}
	putEnd(t, st, "h265", 1)
	if _, err := h.TryFinalize(context.Background(), "h265"); err != nil {
		t.Fatal(err)
	}
	u, ok := rec.last(UpdateFailed)
	if !ok || u.Error != MsgNothingDecodes || len(u.Tracks) != 1 || !strings.Contains(u.Tracks[0].Reason, "video/H265") {
		t.Fatalf("%+v", u)
	}
}

func TestCleanLog(t *testing.T) {
	raw := "undecodable media: exit status 69: " + strings.Repeat("[opus @ 0x55ca4be8c740] Error parsing the packet header.\n", 50) +
		"[vp8 @ 0x7f00aa] Invalid profile 4.\n    Last message repeated 3 times\n" + ": skip retry for the task"
	got := CleanLog(raw)
	for _, bad := range []string{"0x55", "skip retry", "@"} {
		if strings.Contains(got, bad) {
			t.Errorf("%q left in %q", bad, got)
		}
	}
	for _, want := range []string{"[opus] Error parsing the packet header. ×50", "[vp8] Invalid profile 4. ×4"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q missing in %q", want, got)
		}
	}
	// Long output: bounded, whole lines, never starting or ending mid-word.
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "frame %d: concealing %d DC errors in P frame\n", i, i*3)
	}
	if again := CleanLog(got); again != got {
		t.Errorf("not idempotent: %q → %q", got, again)
	}
	got = CleanLog(b.String())
	if len(got) > MaxLog || !strings.HasPrefix(got, "frame 0:") || !strings.Contains(got, "more lines") {
		t.Fatalf("%d bytes: %q…", len(got), got[:80])
	}
	long := CleanLog(strings.Repeat("abcdefgh ", 2000))
	if len(long) > MaxLog || !strings.HasPrefix(long, "abcdefgh") || strings.Contains(long, "abcdefgh a…") {
		t.Fatalf("%d bytes", len(long))
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		err       error
		msg       string
		retryable bool
	}{
		{fmt.Errorf("%w: exit status 69: [opus @ 0x1234567] bad: %w", ErrBadMedia, asynq.SkipRetry), MsgNothingDecodes, false},
		{fmt.Errorf("%w: notes.mp4 has no video stream: %w", ErrNotVideo, asynq.SkipRetry), MsgNotVideo, false},
		{fmt.Errorf("%w: raw/x: %w", ErrSourceMissing, asynq.SkipRetry), MsgSourceMissing, true},
		{fmt.Errorf("%w: connection refused", ErrStorage), MsgStorage, true},
		{fmt.Errorf("%w: signal: killed", ErrFFmpeg), MsgConverter, true},
		{errors.New("something"), MsgFailed, true},
	} {
		msg, log, retry := Describe(tc.err)
		if msg != tc.msg || retry != tc.retryable || strings.Contains(msg+log, "skip retry") || strings.Contains(log, "0x1234567") {
			t.Errorf("%v: %q %q %v", tc.err, msg, log, retry)
		}
	}
}
