package recorder

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/sfu"
)

// TestVP9SVCFirstPictureCutShort: the first keyframe picture of a VP9 SVC broadcast reaches the
// recorder with a layer frame cut short — only the first packet of its top layer, the sequence numbers closed up
// behind it, so the sample builder sees nothing missing (the SFU closes up the numbers behind
// dropped padding packets). Written as the chunk's first picture, ffmpeg refused it ("Invalid
// data found when processing input": TestVP9SVCRecording's known defect). The recorder starts
// the recording at the next whole keyframe picture instead, asks for a keyframe meanwhile, and
// the chunk decodes without a message.
func TestVP9SVCFirstPictureCutShort(t *testing.T) {
	c, plis := svcCutShort(t, 0)
	// The recording starts at picture 5 (the next keyframe), 0.5 s after the first packet.
	if c.Start < 0.45 || c.Start > 0.55 {
		t.Errorf("chunk starts at %.2f s, want 0.5 s (the first whole keyframe picture)", c.Start)
	}
	if plis == 0 {
		t.Error("no keyframe asked for while the first picture was not whole")
	}
}

// TestVP9SVCPictureCutShortMidChunk: a picture cut short in the middle of a chunk (picture 7,
// after the keyframe picture 5) is not written, nor are the pictures after it that reference it,
// until the next keyframe picture (10): the chunk decodes without a message, and the recorder asked
// for a keyframe.
func TestVP9SVCPictureCutShortMidChunk(t *testing.T) {
	c, plis := svcCutShort(t, 7)
	_, frames := vp9Clip(t)
	if got, want := ivfFrames(t, c.Video.Path), len(frames)/3-3; got != want {
		t.Errorf("%d pictures written, want %d (all but 7, 8 and 9)", got, want)
	}
	if c.Start > 0.05 {
		t.Errorf("chunk starts at %.2f s, want 0 (picture 0 is whole)", c.Start)
	}
	if plis == 0 {
		t.Error("no keyframe asked for after the picture cut short")
	}
}

// svcCutShort records the VP9 SVC clip with picture cut's top layer cut short and checks that
// the one chunk decodes without a message; it returns the chunk and the keyframe requests.
func svcCutShort(t *testing.T, cut int) (ChunkInfo, int64) {
	t.Helper()
	_, frames := vp9Clip(t) // keyframes at frames 0, 15, 30: pictures 0, 5, 10
	vp9Info := sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo,
		Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, SSRC: 1}
	var h hookLog
	clk := &clock{now: time.Now()}
	r, err := New(Params{Dir: t.TempDir(), ChunkDuration: time.Minute, Hooks: h.hooks(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	room := &fakeRoom{name: "svc", tracks: []sfu.TrackInfo{vp9Info}}
	s := r.Attach(room)
	t0 := clk.Now()
	seq := uint16(1000)
	for i := 0; i < len(frames); i += 3 {
		pic := i / 3
		pkts := svcPackets(&seq, uint32(i)*3000, uint8(pic), frames[i:i+3], i%15 == 0)
		if pic == cut {
			// Only the first packet of the top layer's frame comes; the numbers are closed up.
			kept := pkts[:0]
			for _, p := range pkts {
				if p.Payload[2]>>1&7 != 2 || p.Payload[0]&0x08 != 0 {
					kept = append(kept, p)
				}
			}
			pkts = kept
			for j, p := range pkts {
				p.SequenceNumber = pkts[0].SequenceNumber + uint16(j)
			}
			seq = pkts[len(pkts)-1].SequenceNumber + 1
		}
		clk.set(t0.Add(time.Duration(pic) * 100 * time.Millisecond))
		for _, p := range pkts {
			if err := s.WriteRTP(vp9Info, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(h.chunks) != 1 || h.chunks[0].Video == nil {
		t.Fatalf("chunks %+v", h.chunks)
	}
	c := h.chunks[0]
	ivf := c.Video.Path
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", ivf, "-map", "0:v", "-vsync", "passthrough", "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
	if msg := strings.TrimSpace(string(out)); err != nil || msg != "" {
		t.Errorf("%s: ffmpeg: %v: %s", filepath.Base(ivf), err, msg)
	}
	return c, room.plis.Load()
}

// ivfFrames counts the frames of an IVF file.
func ivfFrames(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for off := 32; off+12 <= len(b); n++ {
		off += 12 + int(binary.LittleEndian.Uint32(b[off:]))
	}
	return n
}
