package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/sfu"
)

var codecCases = []struct {
	codec, mime, ffprobe string
}{
	{testmedia.CodecVP8, webrtc.MimeTypeVP8, "vp8"},
	{testmedia.CodecVP9, webrtc.MimeTypeVP9, "vp9"},
	{testmedia.CodecAV1, webrtc.MimeTypeAV1, "av1"},
	{testmedia.CodecH264, webrtc.MimeTypeH264, "h264"},
}

// resizedClip is 6 s at 640x360 followed by 6 s at 426x240 (a publisher changing resolution),
// keyframe every second. Both sizes need cropping in H.264 (360 and 426 are not multiples of 16).
func resizedClip(t *testing.T, codec string) []testmedia.Sample {
	t.Helper()
	var out []testmedia.Sample
	for i, size := range []string{"640x360", "426x240"} {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		v, a, err := testmedia.Generate(testmedia.Params{Dir: dir, Duration: 6 * time.Second, Size: size, Codec: codec})
		if errors.Is(err, testmedia.ErrNoEncoder) && os.Getenv("CI") != "true" {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := testmedia.Read(v, a)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range s {
			if x.At < 6*time.Second { // the encoder's extra audio packet would overlap the next part
				x.At += time.Duration(i) * 6 * time.Second
				out = append(out, x)
			}
		}
	}
	return out
}

// TestCodecs: for every video codec the SFU accepts, keyframes and their sizes are found in the
// depacketized frames (through a resolution change), and a recording of a publisher that changes
// resolution mid-chunk is cut into chunks that each start on a keyframe and decode without error.
func TestCodecs(t *testing.T) {
	needMedia(t)
	for _, tc := range codecCases {
		t.Run(tc.codec, func(t *testing.T) {
			t.Parallel()
			samples := resizedClip(t, tc.codec)
			vc, ok := videoCodecFor(tc.mime)
			if !ok {
				t.Fatalf("%s not recorded", tc.mime)
			}
			t.Run("keyframes", func(t *testing.T) { checkKeyframes(t, vc, samples) })
			if tc.mime == webrtc.MimeTypeH264 || tc.mime == webrtc.MimeTypeAV1 {
				t.Run("parameter sets restored", func(t *testing.T) { checkParamSets(t, vc, samples) })
			}
			t.Run("recording", func(t *testing.T) { checkCodecRecording(t, tc.mime, tc.ffprobe, samples) })
			t.Run("crash", func(t *testing.T) { checkCodecCrash(t, tc.mime, samples) })
		})
	}
}

func checkKeyframes(t *testing.T, vc videoCodec, samples []testmedia.Sample) {
	vf := vc.format()
	n, keys := 0, 0
	for _, s := range samples {
		if !s.Video {
			continue
		}
		_, key, w, h := vf.frame(s.Data)
		wantKey := n%30 == 0 // GOP of 30 frames
		wantW, wantH := 640, 360
		if s.At >= 6*time.Second {
			wantW, wantH = 426, 240
		}
		if key != wantKey {
			t.Errorf("frame %d (%v): key %v, want %v", n, s.At, key, wantKey)
		}
		if key {
			keys++
			if w != wantW || h != wantH {
				t.Errorf("keyframe %d (%v): size %dx%d, want %dx%d", n, s.At, w, h, wantW, wantH)
			}
		}
		n++
	}
	if keys != 12 {
		t.Errorf("%d keyframes, want 12", keys)
	}
}

// checkParamSets: a keyframe that comes without SPS/PPS (H.264) or sequence header (AV1) is still
// a keyframe: the recorder puts the last ones in front, so a chunk starting there decodes.
func checkParamSets(t *testing.T, vc videoCodec, samples []testmedia.Sample) {
	vf := vc.format()
	n := 0
	for _, s := range samples {
		if !s.Video {
			continue
		}
		data := s.Data
		stripped := n == 60 // the keyframe at 2 s
		if stripped {
			data = stripParamSets(t, vc.mime, data)
		}
		out, key, w, h := vf.frame(data)
		if stripped {
			if !key || w != 640 || h != 360 {
				t.Fatalf("keyframe without parameter sets: key %v size %dx%d", key, w, h)
			}
			ref, _, _, _ := vc.format().frame(s.Data) // the same frame with its parameter sets
			if !sameUnits(vc.mime, out, ref) {
				t.Fatalf("restored keyframe (%d bytes) differs from the original (%d bytes)", len(out), len(ref))
			}
			return
		}
		n++
	}
	t.Fatal("clip too short")
}

// sameUnits compares two frames NAL unit by NAL unit (H.264: start codes may differ in length).
func sameUnits(mime string, a, b []byte) bool {
	if mime != webrtc.MimeTypeH264 {
		return bytes.Equal(a, b)
	}
	na, nb := splitAnnexB(a), splitAnnexB(b)
	if len(na) != len(nb) {
		return false
	}
	for i := range na {
		if !bytes.Equal(na[i], nb[i]) {
			return false
		}
	}
	return true
}

// stripParamSets removes the SPS/PPS NAL units (H.264) or the sequence header OBU (AV1).
func stripParamSets(t *testing.T, mime string, f []byte) []byte {
	t.Helper()
	var out []byte
	if mime == webrtc.MimeTypeH264 {
		for _, n := range splitAnnexB(f) {
			if typ := n[0] & 0x1f; typ != naluSPS && typ != naluPPS {
				out = append(append(out, startCode...), n...)
			}
		}
	} else {
		// IVF AV1: temporal delimiter (12 00), sequence header (0a <size> ...), then the frame.
		if !bytes.HasPrefix(f, temporalDelimiter) || f[2] != 0x0a || f[3] >= 0x80 {
			t.Fatalf("unexpected temporal unit start % x", f[:4])
		}
		out = append(append(out, temporalDelimiter...), f[4+int(f[3]):]...)
	}
	if len(out) >= len(f) {
		t.Fatal("nothing stripped")
	}
	return out
}

func checkCodecRecording(t *testing.T, mime, ffprobe string, samples []testmedia.Sample) {
	var h hookLog
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, err := New(Params{Dir: t.TempDir(), ChunkDuration: 4 * time.Second, Hooks: h.hooks(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	vinfo := sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, SSRC: 1}
	room := &fakeRoom{name: "shop", tracks: []sfu.TrackInfo{vinfo, audioInfo}}
	s := r.Attach(room)
	feed(t, s, clk, samples, feedOpts{video: vinfo, reorder: true})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(h.ended) != 1 || len(h.chunks) != 3 || len(h.failed) != 0 {
		t.Fatalf("%d ended, %d chunks (want 3), failed %v", len(h.ended), len(h.chunks), h.failed)
	}
	if m := h.ended[0]; m.Width != 640 || m.Height != 360 {
		t.Errorf("manifest size %dx%d, want the first keyframe's 640x360", m.Width, m.Height)
	}
	if room.plis.Load() == 0 {
		t.Error("no keyframe requested at chunk boundaries")
	}
	total := 0.0
	for i, c := range h.chunks {
		if c.Video == nil || c.Audio == nil || c.Video.Codec != mime {
			t.Fatalf("chunk %d: %+v", i, c)
		}
		// The first frame is a keyframe; the whole chunk decodes without an error, across
		// the size change in chunk 1 (at 6 s).
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
			"-show_entries", "stream=codec_name:frame=key_frame,width,height", "-of", "csv=p=0", c.Video.Path).Output()
		if err != nil {
			t.Fatalf("chunk %d: ffprobe: %v", i, err)
		}
		want := map[int]string{0: "1,640,360", 1: "1,640,360", 2: "1,426,240"}[i]
		if got := strings.Fields(strings.ReplaceAll(string(out), ",\n", "\n")); len(got) != 2 || got[0] != want || got[1] != ffprobe {
			t.Errorf("chunk %d: first frame/stream %q, want %s and %s", i, got, want, ffprobe)
		}
		dec, err := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-i", c.Video.Path, "-f", "null", "-").CombinedOutput()
		if err != nil || len(bytes.TrimSpace(dec)) > 0 {
			t.Errorf("chunk %d: decode: %v %s", i, err, dec)
		}
		_, vd := probeDur(t, c.Video.Path)
		if math.Abs(vd-c.Duration) > 0.1 {
			t.Errorf("chunk %d: duration %.3f, video file %.3f", i, c.Duration, vd)
		}
		if math.Abs(c.Audio.Offset-c.Video.Offset) > 0.03 {
			t.Errorf("chunk %d: audio offset %.3f video %.3f", i, c.Audio.Offset, c.Video.Offset)
		}
		total += c.Duration
	}
	if math.Abs(total-12) > 0.2 {
		t.Errorf("total %.3f s, want 12", total)
	}
}

// checkCodecCrash: the process dies mid-chunk (no Close, as after SIGKILL); the open chunk's file
// decodes without an error up to what was sent.
func checkCodecCrash(t *testing.T, mime string, samples []testmedia.Sample) {
	clk := &clock{now: time.Now()}
	r, err := New(Params{Dir: t.TempDir(), ChunkDuration: 4 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	vinfo := sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, SSRC: 1}
	s := r.Attach(&fakeRoom{name: "shop", tracks: []sfu.TrackInfo{vinfo, audioInfo}})
	feed(t, s, clk, samples, feedOpts{video: vinfo, until: 9500 * time.Millisecond})
	p, err := Scan(r.Dir(), nil)
	if err != nil || len(p) != 1 || len(p[0].Chunks) != 3 {
		t.Fatalf("scan: %+v %v", p, err)
	}
	last := p[0].Chunks[2]
	dec, err := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-i", last.Video.Path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(dec)) > 0 {
		t.Errorf("open chunk: decode: %v %s", err, dec)
	}
	_, vd := probeDur(t, last.Video.Path)
	if lost := 9.5 - (last.Start + vd); lost > 0.5 {
		t.Errorf("recorded up to %.2f s of 9.5 s", last.Start+vd)
	}
}

// TestH264LostFragmentEnd: a fragmented NAL unit whose last packet was lost does not leak into
// the next frame.
func TestH264LostFragmentEnd(t *testing.T) {
	d := &h264Depacketizer{}
	// FU-A (type 28) of an IDR (type 5): start and middle arrive, the end is lost.
	for _, p := range [][]byte{{0x7c, 0x85, 1, 2}, {0x7c, 0x05, 3, 4}} {
		if _, err := d.Unmarshal(p); err != nil {
			t.Fatal(err)
		}
	}
	// The next frame: a fragmented non-IDR slice, whole.
	var out []byte
	for _, p := range [][]byte{{0x5c, 0x81, 9, 8}, {0x5c, 0x41, 7}} {
		b, err := d.Unmarshal(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	if want := []byte{0, 0, 0, 1, 0x41, 9, 8, 7}; !bytes.Equal(out, want) {
		t.Fatalf("got % x, want % x", out, want)
	}
	if !d.IsPartitionHead([]byte{0x5c, 0x81, 9}) || d.IsPartitionHead([]byte{0x5c, 0x01, 9}) {
		t.Fatal("partition heads")
	}
}
