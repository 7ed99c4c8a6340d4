package recorder

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/relaycast/relaycast/internal/testmedia"
)

// vp9Clip encodes 45 frames of 640x360 VP9 (wide enough for a tile-columns bit) the way a real-time encoder does (no hidden alt-ref
// frames, error resilient as libvpx SVC in WebRTC, keyframe every 15 frames) and returns the
// IVF file and its frames.
func vp9Clip(t *testing.T) (string, [][]byte) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil || !testmedia.HasEncoder("libvpx-vp9") {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg with libvpx-vp9 not installed")
		}
		t.Skip("ffmpeg with libvpx-vp9 not installed")
	}
	p := filepath.Join(t.TempDir(), "clip.ivf")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-frames:v", "45",
		"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-auto-alt-ref", "0",
		"-error-resilient", "1", "-g", "15", "-b:v", "300k", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for off := 32; off+12 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		frames = append(frames, b[off+12:off+12+n])
		off += 12 + n
	}
	if len(frames) != 45 {
		t.Fatalf("%d frames in the clip", len(frames))
	}
	return p, frames
}

// frameMD5s decodes an IVF file with ffmpeg and returns the MD5 of every output frame; ffmpeg
// must report no error.
func frameMD5s(t *testing.T, path string) []string {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-vsync", "passthrough", "-enc_time_base", "-1", "-f", "framemd5", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("decoding %s: %v: %s", filepath.Base(path), err, stderr.String())
	}
	var sums []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Split(l, ","); len(f) == 6 && !strings.HasPrefix(l, "#") {
			sums = append(sums, strings.TrimSpace(f[5]))
		}
	}
	return sums
}

var traceLine = regexp.MustCompile(`\] (\d+)\s+(show_frame|header_size_in_bytes)\s+\S+ = (\d+)`)

// traceHeaders reads an IVF file with ffmpeg's trace_headers bitstream filter (its own VP9 header
// parser, which also splits superframes) and returns, frame by frame, show_frame and the bit
// position where the uncompressed header ends (after header_size_in_bytes).
func traceHeaders(t *testing.T, path string) (show []bool, end []int) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "trace", "-i", path, "-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("trace_headers: %v", err)
	}
	for _, m := range traceLine.FindAllStringSubmatch(string(out), -1) {
		pos, _ := strconv.Atoi(m[1])
		if m[2] == "show_frame" {
			show = append(show, m[3] == "1")
		} else {
			end = append(end, pos+16)
		}
	}
	return show, end
}

// svcPackets packetizes a picture whose layer frames are layers (S0, S1, …) as Chromium does:
// VP9 descriptors in non-flexible mode with layer indices, B/E per layer frame, several packets
// per frame, the marker on the last packet of the top layer.
func svcPackets(seq *uint16, ts uint32, pid uint8, layers [][]byte, key bool) []*rtp.Packet {
	var pkts []*rtp.Packet
	for sid, f := range layers {
		for off := 0; off < len(f); off += 500 {
			end := min(off+500, len(f))
			flags := byte(0x80 | 0x20) // I, L
			if !key || sid > 0 {
				flags |= 0x40 // P (S1, S2 of a keyframe picture are inter-layer predicted)
			}
			if off == 0 {
				flags |= 0x08 // B
			}
			if end == len(f) {
				flags |= 0x04 // E
			}
			layer := byte(sid<<1) | 0x10 // TID 0, U, SID
			if sid > 0 && key {
				layer |= 1 // D
			}
			payload := append([]byte{flags, pid & 0x7f, layer, 0}, f[off:end]...)
			pkts = append(pkts, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SequenceNumber: *seq, Timestamp: ts,
				Marker: sid == len(layers)-1 && end == len(f)}, Payload: payload})
			*seq++
		}
	}
	return pkts
}

// build runs packets through the frame assembler with the recorder's VP9 depacketizer and
// format, as the sink does, and returns the frames to write with their keyframe flags and sizes.
func build(pkts []*rtp.Packet, depack rtp.Depacketizer, vf videoFormat) (out [][]byte, keys []bool, sizes [][2]int) {
	a := newFrameAssembler(videoMaxLate, depack, uint32(videoMaxDelay.Seconds()*90000))
	pop := func(flush bool) {
		for {
			data, _, _, ok := a.pop(flush)
			if !ok {
				return
			}
			f, key, w, h := vf.frame(data)
			out, keys, sizes = append(out, bytes.Clone(f)), append(keys, key), append(sizes, [2]int{w, h})
		}
	}
	for _, p := range pkts {
		a.push(p)
		pop(false)
	}
	pop(true)
	return out, keys, sizes
}

// TestVP9SVCSuperframes: pictures of three layer frames (here three consecutive frames of a real
// VP9 clip, so the result can be checked by decoding) come out as one superframe each: the frames
// joined, the first two with show_frame cleared, and a correct index. ffmpeg decodes the file
// without error and shows exactly the last frame of every picture, bit for bit as the clip's.
func TestVP9SVCSuperframes(t *testing.T) {
	clip, frames := vp9Clip(t)
	var pkts []*rtp.Packet
	seq := uint16(65500) // wraps
	for i := 0; i < len(frames); i += 3 {
		pkts = append(pkts, svcPackets(&seq, uint32(i)*3000, uint8(i/3), frames[i:i+3], i%15 == 0)...)
	}
	vf := &vp9Format{}
	out, keys, sizes := build(pkts, &vp9Depacketizer{}, vf)
	if len(out) != 15 {
		t.Fatalf("%d pictures written, want 15", len(out))
	}
	dir := t.TempDir()
	w, err := newIVF(filepath.Join(dir, "svc.ivf"), "VP90", 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	var refs vp9Refs
	for i, sf := range out {
		layers := frames[3*i : 3*i+3]
		wantKey := i%5 == 0
		if keys[i] != wantKey || (wantKey && sizes[i] != [2]int{640, 360}) {
			t.Errorf("picture %d: key %v size %v, want key %v (640x360)", i, keys[i], sizes[i], wantKey)
		}
		// Index: marker 0b110mmfff, three sizes of mm+1 bytes, marker.
		m := sf[len(sf)-1]
		mag := int(m>>3&3) + 1
		if m&0xe0 != 0xc0 || m&7 != 2 || !isVP9Superframe(sf) {
			t.Fatalf("picture %d: index marker %08b", i, m)
		}
		idx := sf[len(sf)-(2+3*mag):]
		off := 0
		for j := range 3 {
			n := 0
			for k := range mag {
				n |= int(idx[1+j*mag+k]) << (8 * k)
			}
			got := sf[off : off+n]
			off += n
			h, ok := parseVP9Hdr(got, &refs)
			if !ok {
				t.Fatalf("picture %d frame %d: header not parsed", i, j)
			}
			refs.update(h)
			orig, _ := parseVP9Hdr(layers[j], &refs)
			if h.show != (j == 2) || h.key != orig.key || h.w != orig.w || h.refresh != orig.refresh {
				t.Errorf("picture %d frame %d: show %v key %v %dx%d refresh %x; original key %v %dx%d refresh %x",
					i, j, h.show, h.key, h.w, h.h, h.refresh, orig.key, orig.w, orig.h, orig.refresh)
			}
			if j == 2 && !bytes.Equal(got, layers[j]) {
				t.Errorf("picture %d: the shown frame was changed", i)
			}
			// The compressed data after the uncompressed header is untouched.
			if tail := layers[j][(orig.end+7)/8:]; !bytes.HasSuffix(got, tail) {
				t.Errorf("picture %d frame %d: compressed data changed", i, j)
			}
		}
		if off != len(sf)-len(idx) {
			t.Errorf("picture %d: sizes add up to %d of %d bytes", i, off, len(sf)-len(idx))
		}
		if err := w.write(sf, int64(i)*9000); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	// The header parser agrees with ffmpeg's on where every frame's uncompressed header ends, in
	// the clip and in the rewritten frames (one bit later in hidden inter frames).
	var ends []int
	refs = vp9Refs{}
	for _, f := range frames {
		h, _ := parseVP9Hdr(f, &refs)
		refs.update(h)
		ends = append(ends, h.end)
	}
	if _, want := traceHeaders(t, clip); len(want) != len(frames) || !slices.Equal(ends, want) {
		t.Errorf("uncompressed header ends at bits %v\nffmpeg: %v", ends, want)
	}
	show, got := traceHeaders(t, filepath.Join(dir, "svc.ivf"))
	for i := range ends {
		if i%3 < 2 && i%15 != 0 {
			ends[i]++ // intra_only inserted
		}
	}
	if len(show) != len(frames) || !slices.Equal(got, ends) {
		t.Errorf("rewritten headers end at bits %v\nwant %v", got, ends)
	}
	for i, s := range show {
		if s != (i%3 == 2) {
			t.Errorf("frame %d of the superframes: show_frame %v", i, s)
		}
	}
	all := frameMD5s(t, clip)
	var want []string
	for i := 2; i < len(all); i += 3 {
		want = append(want, all[i])
	}
	if got := frameMD5s(t, filepath.Join(dir, "svc.ivf")); !slices.Equal(got, want) {
		t.Errorf("decoded frames %v\nwant (every third of the clip) %v", got, want)
	}
}

// TestVP9PlainUnchanged: VP9 without layers (Pion's payloader, several packets per frame) is
// written byte for byte as the frames were sent, as by the plain VP9Packet depacketizer.
func TestVP9PlainUnchanged(t *testing.T) {
	_, frames := vp9Clip(t)
	var pkts []*rtp.Packet
	pay := &codecs.VP9Payloader{}
	seq := uint16(100)
	for i, f := range frames {
		ps := pay.Payload(400, f)
		for j, p := range ps {
			pkts = append(pkts, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i) * 3000, Marker: j == len(ps)-1}, Payload: p})
			seq++
		}
	}
	got, keys, _ := build(pkts, &vp9Depacketizer{}, &vp9Format{})
	old, _, _ := build(pkts, &codecs.VP9Packet{}, &vp9Format{})
	if len(got) != len(frames) {
		t.Fatalf("%d frames, want %d", len(got), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) || !bytes.Equal(old[i], frames[i]) {
			t.Errorf("frame %d differs from the one sent", i)
		}
		if keys[i] != (i%15 == 0) {
			t.Errorf("frame %d: key %v", i, keys[i])
		}
	}
}
