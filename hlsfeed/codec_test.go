package hlsfeed

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/sfu"
)

func TestVideoKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func([]byte) (bool, int, int)
		in   []byte
		want bool
		w, h int
	}{
		{"vp8 key", vp8Key, []byte{0x50, 0x42, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}, true, 640, 360},
		{"vp8 inter", vp8Key, []byte{0x51, 0x42, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}, false, 0, 0},
		{"vp8 short", vp8Key, []byte{0x50}, false, 0, 0},
		{"vp9 key truncated", vp9Key, []byte{0x82, 0x49}, false, 0, 0}, // marker, profile 0, key; no sync code, no size
		// profile 1 key: 10 1 0, show_existing 0, key 0, show 1, error_res 0; sync code;
		// color_space 2, range 0, subsampling 1 0, reserved 0; 640x360.
		{"vp9 key profile 1", vp9Key, bitsOf("1010 0010 01001001 10000011 01000010 0100100 0000001001111111 0000000101100111 0"), true, 640, 360},
		{"vp9 inter profile 0", vp9Key, []byte{0x86, 0x00}, false, 0, 0}, // frame_type 1
		{"vp9 show existing", vp9Key, []byte{0x88, 0x00}, false, 0, 0},
		{"vp9 bad marker", vp9Key, []byte{0x02, 0x00}, false, 0, 0},
		{"av1 sequence header", av1Key, []byte{0x12, 0x00, 0x0a, 0x01, 0x00}, true, 0, 0}, // TD, then SH
		{"av1 frame only", av1Key, []byte{0x12, 0x00, 0x32, 0x01, 0x00}, false, 0, 0},
		{"av1 truncated", av1Key, []byte{0x12, 0x05}, false, 0, 0},
		// TD, SH (reduced still picture header, level 5, 8+8 bits: 200x100)
		{"av1 sequence header size", av1Key, append([]byte{0x12, 0x00, 0x0a, 0x05}, bitsOf("000 1 1 00101 0111 0111 11000111 01100011")...), true, 200, 100},
	} {
		k, w, h := tc.key(tc.in)
		if k != tc.want || w != tc.w || h != tc.h {
			t.Errorf("%s: %v %dx%d", tc.name, k, w, h)
		}
	}
}

// bitsOf packs a string of 0s and 1s (spaces ignored) into bytes, zero padded.
func bitsOf(s string) []byte {
	s = strings.ReplaceAll(s, " ", "")
	out := make([]byte, (len(s)+7)/8)
	for i, c := range s {
		out[i/8] |= byte(c-'0') << (7 - i%8)
	}
	return out
}

// The key frames of real VP9 and AV1 streams (ffmpeg's encoders) give their size; the other
// frames are no key frames.
func TestVideoKeySizes(t *testing.T) {
	for _, tc := range []struct {
		codec string
		key   func([]byte) (bool, int, int)
	}{{testmedia.CodecVP8, vp8Key}, {testmedia.CodecVP9, vp9Key}, {testmedia.CodecAV1, av1Key}} {
		c := newClip(t, tc.codec, "480x270", 500*time.Millisecond, 10)
		var keys, frames int
		for _, s := range c.samples {
			if !s.Video {
				continue
			}
			k, w, h := tc.key(s.Data)
			if k != (frames%10 == 0) || k && (w != 480 || h != 270) {
				t.Errorf("%s frame %d: key %v %dx%d", tc.codec, frames, k, w, h)
			}
			if k {
				keys++
			}
			frames++
		}
		if frames != 15 || keys != 2 {
			t.Errorf("%s: %d frames, %d keys", tc.codec, frames, keys)
		}
	}
}

func TestH264Prepare(t *testing.T) {
	c := newClip(t, testmedia.CodecH264, "320x240", 200*time.Millisecond, 30)
	var key []byte
	for _, s := range c.samples {
		if s.Video {
			key = s.Data
			break
		}
	}
	nalus := splitAnnexB(key)
	var p h264Params
	out, idr, newSPS := p.prepare(nalus)
	if !idr || newSPS || p.w != 320 || p.h != 240 {
		t.Fatalf("idr %v newSPS %v %dx%d", idr, newSPS, p.w, p.h)
	}
	for _, n := range out {
		if n[0]&0x1f == naluAUD {
			t.Fatal("AUD kept")
		}
	}
	// The same IDR without its SPS and PPS gets them back, in front.
	var bare [][]byte
	for _, n := range out {
		if typ := n[0] & 0x1f; typ != naluSPS && typ != naluPPS {
			bare = append(bare, n)
		}
	}
	again, idr, _ := p.prepare(bare)
	if !idr || !reflect.DeepEqual(again, out) {
		t.Fatalf("parameter sets not restored: %d NAL units, want %d", len(again), len(out))
	}
	// An IDR before any SPS cannot start a stream.
	var fresh h264Params
	if _, idr, _ := fresh.prepare(bare); idr {
		t.Fatal("an IDR without parameter sets counted as a start")
	}
	if !bytes.Equal(splitAnnexB(annexB(out))[0], out[0]) {
		t.Fatal("annexB round trip")
	}
}

func TestRungsAndArgs(t *testing.T) {
	ladder := []int{540, 360}
	for h, want := range map[int][]int{1080: {540, 360}, 720: {360}, 480: nil, 0: nil} {
		if got := rungsFor(ladder, h); !reflect.DeepEqual(got, want) {
			t.Errorf("height %d: %v, want %v", h, got, want)
		}
	}
	s := spec{fourcc: "VP80", w: 1280, h: 720, audio: true, outs: []output{{name: "src", bitrate: 2_500_000}, {name: "360p", height: 360, bitrate: 800_000}}}
	a := s.args(2*time.Second, 0)
	joined := " " + join(a) + " "
	for _, want := range []string{" -f ivf -i pipe:3 ", " -f mpegts -i pipe:4 ", " -copyts ", "[0:v]split=2[s0][s1];[s0]null[o0];[s1]scale=-2:360[o1]",
		" -map [o0] -map [o1] ", " -map 1:a -c:a aac ", "gte(t,prev_forced_t+2.000)", " -b:v:1 800000 ", " pipe:1 "} {
		if !contains(joined, want) {
			t.Errorf("args lack %q: %s", want, joined)
		}
	}
	if first := join(s.args(2*time.Second, time.Second)); !contains(first, "gte(t,prev_forced_t+if(eq(n_forced,1),1.000,2.000))") {
		t.Errorf("the second keyframe is not at the first segment's 1 s: %s", first)
	}
	audioOnly := join(spec{audio: true}.args(time.Second, 0))
	if contains(audioOnly, "libx264") || !contains(audioOnly, "-f mpegts -i pipe:3 -copyts -map 0:a") {
		t.Errorf("audio only: %s", audioOnly)
	}
}

func join(a []string) string {
	var b bytes.Buffer
	for i, x := range a {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

func contains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

func TestTicks(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 10*time.Second + 33333333, 26 * time.Hour} {
		if got := fromTicks(ticks(d)); got-d > 12*time.Microsecond || d-got > 12*time.Microsecond {
			t.Errorf("%v → %v", d, got)
		}
	}
}

// The sink asks the SFU for every simulcast layer only when they are H.264 (copied); VP8
// simulcast is transcoded from the best layer as before.
func TestWantLayers(t *testing.T) {
	f, _ := newTestFeed(t, Params{})
	layers := func(mime string) []sfu.LayerInfo {
		var out []sfu.LayerInfo
		for i, rid := range []string{"q", "h", "f"} {
			out = append(out, sfu.LayerInfo{TrackInfo: sfu.TrackInfo{Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: mime}, SSRC: uint32(10 + i)},
				RID: rid, Rank: i, Best: i == 2})
		}
		return out
	}
	c := &clip{}
	vp8 := f.OnLive(&fakeRoom{name: "wl-vp8", tracks: []sfu.TrackInfo{c.video}}).(*roomSink)
	if vp8.WantLayers(layers(webrtc.MimeTypeVP8)) || vp8.layers != nil {
		t.Error("VP8 layers wanted")
	}
	h264 := f.OnLive(&fakeRoom{name: "wl-h264", tracks: []sfu.TrackInfo{c.video}}).(*roomSink)
	if !h264.WantLayers(layers(webrtc.MimeTypeH264)) || len(h264.layers) != 2 || h264.layers[12] != nil {
		t.Errorf("H.264 layers: %v", h264.layers)
	}
	_ = vp8.Close()
	_ = h264.Close()
}
