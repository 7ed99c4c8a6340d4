package recorder

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// splitPayloads cuts a fuzz input into RTP payloads: each is prefixed by a one-byte length
// (the rest of the input when the length runs past it).
func splitPayloads(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 && len(out) < 64 {
		n := int(data[0])
		data = data[1:]
		if n > len(data) {
			n = len(data)
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// joinPayloads is splitPayloads' inverse for seeds.
func joinPayloads(ps ...[]byte) []byte {
	var out []byte
	for _, p := range ps {
		out = append(out, byte(len(p)))
		out = append(out, p...)
	}
	return out
}

// FuzzDepacketize feeds RTP payloads from a publisher through each video codec's depacketizer
// and the recorder's frame format (what the sink does with every packet it records). Property:
// no panic, and a frame the format writes is never more than the depacketized input plus the
// parameter sets it remembers (bounded output).
func FuzzDepacketize(f *testing.F) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, 0x40}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	stap := append(append(append([]byte{0x78, 0, byte(len(sps))}, sps...), 0, byte(len(pps))), pps...)
	fuA1 := []byte{0x7c, 0x85, 0x88, 0x84}
	fuA2 := []byte{0x7c, 0x45, 0x00, 0x33}
	vp8Key := []byte{0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0x00}
	vp9Key := []byte{0x8c, 0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0b, 0x3f, 0x20}
	av1Seq := []byte{0x18, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24, 0xc4, 0xff, 0xdf, 0x00, 0x68, 0x02}
	for codec := byte(0); codec < 4; codec++ {
		f.Add(codec, joinPayloads(stap, idr))
		f.Add(codec, joinPayloads(sps, pps, fuA1, fuA2))
		f.Add(codec, joinPayloads(vp8Key))
		f.Add(codec, joinPayloads(vp9Key, vp9Key))
		f.Add(codec, joinPayloads(av1Seq))
	}
	f.Add(byte(2), []byte{})
	f.Fuzz(func(t *testing.T, codec byte, data []byte) {
		c := videoCodecs[int(codec)%len(videoCodecs)]
		d, vf := c.depack(), c.format()
		var frame []byte
		for _, p := range splitPayloads(data) {
			out, err := d.Unmarshal(p)
			if err != nil {
				continue
			}
			frame = append(frame, out...)
			if !d.IsPartitionTail(true, p) && len(frame) < 1<<16 {
				continue
			}
			w, key, wd, ht := vf.frame(frame)
			if limit := 2*len(frame) + 4096; len(w) > limit {
				t.Fatalf("%s: frame of %d bytes from %d", c.mime, len(w), len(frame))
			}
			if wd < 0 || ht < 0 || (!key && (wd != 0 || ht != 0) && c.mime != webrtc.MimeTypeVP9) {
				t.Fatalf("%s: size %dx%d key=%v", c.mime, wd, ht, key)
			}
			frame = nil
		}
	})
}

// FuzzCodecHeaders parses the headers the recorder reads from media bytes a publisher controls:
// H.264 SPS sizes, AV1 sequence headers and frame headers, VP8 and VP9 keyframe headers, Opus
// TOC bytes. Property: no panic; sizes are non-negative and bounded by the field widths.
func FuzzCodecHeaders(f *testing.F) {
	f.Add([]byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, 0x40})
	f.Add([]byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04})
	f.Add([]byte{0x00, 0x00, 0x00, 0x01, 0x67, 0x42, 0x00, 0x00, 0x01, 0x68, 0xce})
	f.Add([]byte{0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24, 0xc4, 0xff, 0xdf, 0x00, 0x68, 0x02})
	f.Add([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01})
	f.Add([]byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0b, 0x3f, 0x20})
	f.Add([]byte{0xfc, 0xff, 0xfe})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range splitAnnexB(b) {
			if len(n) == 0 {
				t.Fatalf("empty NAL unit from %x", b)
			}
		}
		if len(b) > 0 {
			if w, h, err := h264Size(b); err == nil && (w <= 0 || h <= 0) {
				t.Fatalf("h264Size %dx%d without error", w, h)
			}
			if n := opusSamples(b); n < 0 || n > maxOpusSamples {
				t.Fatalf("opusSamples = %d", n)
			}
		}
		_ = unescapeRBSP(b)
		if w, h, reduced, err := av1SeqSize(b); err == nil {
			if w <= 0 || h <= 0 || w > 1<<16 || h > 1<<16 {
				t.Fatalf("av1SeqSize %dx%d", w, h)
			}
			_ = av1KeyFrame(b, reduced)
		} else if !errors.Is(err, errBadSeqHeader) {
			t.Fatalf("av1SeqSize error %v is not errBadSeqHeader", err)
		}
		_ = av1KeyFrame(b, false)
		if key, w, h := vp8Key(b); !key && (w != 0 || h != 0) || w > 0x3fff || h > 0x3fff {
			t.Fatalf("vp8Key %v %dx%d", key, w, h)
		}
		var refs vp9Refs
		if hdr, ok := parseVP9Hdr(b, &refs); ok {
			if hdr.w < 0 || hdr.h < 0 || hdr.w > 1<<16 || hdr.h > 1<<16 {
				t.Fatalf("vp9 %dx%d", hdr.w, hdr.h)
			}
			if hdr.show && !hdr.showExisting && hdr.showPos/8 < len(b) {
				if hidden := hideVP9(b, hdr); len(hidden) < len(b) || len(hidden) > len(b)+1 { // an inter frame gains intra_only
					t.Fatalf("hideVP9 changed the length %d -> %d", len(b), len(hidden))
				}
			}
		}
	})
}

// FuzzScan reads back a recording directory whose manifest and chunk file hold fuzzed JSON (a
// disk left by a crash, or tampered with). Property: no panic; an unreadable manifest is
// ErrBadManifest; the track paths Scan returns are inside their chunk directory whatever path
// the chunk file claims.
func FuzzScan(f *testing.F) {
	start := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	m, _ := json.Marshal(Manifest{ID: "rec1", Room: "shop", StartedAt: start, Chunks: 1})
	c, _ := json.Marshal(ChunkInfo{Index: 0, Video: &TrackFile{Path: "/old/c000000/video.ivf", Codec: webrtc.MimeTypeVP8}, Audio: &TrackFile{Path: "audio.ogg", Codec: webrtc.MimeTypeOpus}})
	f.Add(m, c)
	f.Add(m, []byte(`{"index":0,"video":{"path":"../../../etc/passwd"}}`))
	f.Add([]byte(`{"id":"x","ended_at":"2026-12-07T06:00:00Z","chunks":9}`), []byte(`{}`))
	f.Add([]byte(`{`), []byte(`null`))
	f.Add([]byte(`[]`), []byte(`{"index":-1,"video":null,"audio":{"path":""}}`))
	f.Fuzz(func(t *testing.T, manifest, chunk []byte) {
		dir := t.TempDir()
		rd := filepath.Join(dir, "rec1")
		cd := chunkDir(rd, 0)
		if err := os.MkdirAll(cd, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rd, manifestFile), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cd, chunkFile), chunk, 0o644); err != nil {
			t.Fatal(err)
		}
		ps, err := Scan(dir, nil)
		if err != nil && !errors.Is(err, ErrBadManifest) && !errors.Is(err, ErrDisk) {
			t.Fatalf("Scan error %v is no sentinel", err)
		}
		for _, p := range ps {
			for _, ci := range p.Chunks {
				for _, tf := range []*TrackFile{ci.Video, ci.Audio} {
					if tf != nil && !strings.HasPrefix(tf.Path, cd+string(filepath.Separator)) && tf.Path != cd {
						t.Fatalf("track path %q outside %q", tf.Path, cd)
					}
				}
			}
		}
	})
}

// TestOpusSamplesBounded: a code-3 packet claiming 48 frames of 60 ms (found by FuzzCodecHeaders)
// counts 120 ms, the most a packet may last, not 2.9 s.
func TestOpusSamplesBounded(t *testing.T) {
	if n := opusSamples([]byte{0x1b<<3 | 3, 48}); n != maxOpusSamples {
		t.Fatalf("opusSamples = %d, want %d", n, maxOpusSamples)
	}
	if n := opusSamples([]byte{0xfd, 0xff, 0xfe}); n != 960*2 {
		t.Fatalf("opusSamples(20 ms x2) = %d", n)
	}
}
