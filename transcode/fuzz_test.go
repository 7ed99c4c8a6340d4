package transcode

import (
	"math"
	"strings"
	"testing"
)

// FuzzPlaylist reads an HLS media playlist back the way the transcoder reads ffmpeg's output
// for a chunk (parseSegments), writes the recording's playlist from it (mediaPlaylist) and reads
// that again. Properties: no panic; every duration read is finite and not negative (it sets
// EXT-X-TARGETDURATION); the playlist written reads back as the same segments (round trip).
func FuzzPlaylist(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n" +
		"#EXTINF:2.000000,\nseg_00000.ts\n#EXTINF:1.966667,\nseg_00001.ts\n#EXT-X-ENDLIST\n"))
	f.Add([]byte("#EXTINF:4,title\r\nhttp://x/y.ts\r\n#EXTINF:bad,\na.ts\n"))
	f.Add([]byte("#EXTINF:NaN,\na.ts\n#EXTINF:-3,\nb.ts\n#EXTINF:1e308,\nc.ts\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, pl []byte) {
		segs := parseSegments(pl)
		for _, s := range segs {
			if math.IsNaN(s.Duration) || math.IsInf(s.Duration, 0) || s.Duration < 0 || s.Duration > maxSegmentDuration {
				t.Fatalf("segment %q has duration %v", s.URI, s.Duration)
			}
			if s.URI == "" || strings.ContainsAny(s.URI, "\n") {
				t.Fatalf("segment URI %q", s.URI)
			}
		}
		out := mediaPlaylist([]chunkDone{{Segments: map[string][]segment{"720p": segs}}}, "720p", true)
		back := parseSegments([]byte(out))
		if len(back) != len(segs) {
			t.Fatalf("%d segments read back as %d:\n%s", len(segs), len(back), out)
		}
		for i := range segs {
			if back[i].URI != segs[i].URI || math.Abs(back[i].Duration-segs[i].Duration) > 1e-6 {
				t.Fatalf("segment %d: %+v read back as %+v", i, segs[i], back[i])
			}
		}
	})
}

// TestParseSegmentsBadDurations: NaN, infinite, negative and absurd EXTINF durations read as
// 0 (before, NaN and 1e308 went into EXT-X-TARGETDURATION as int(math.Ceil(x))).
func TestParseSegmentsBadDurations(t *testing.T) {
	segs := parseSegments([]byte("#EXTINF:NaN,\na.ts\n#EXTINF:+Inf,\nb.ts\n#EXTINF:-3,\nc.ts\n#EXTINF:1e308,\nd.ts\n#EXTINF:2.5,\ne.ts\n"))
	if len(segs) != 5 {
		t.Fatalf("segments %+v", segs)
	}
	for i, want := range []float64{0, 0, 0, 0, 2.5} {
		if segs[i].Duration != want {
			t.Errorf("segment %s: duration %v, want %v", segs[i].URI, segs[i].Duration, want)
		}
	}
	if pl := mediaPlaylist([]chunkDone{{Segments: map[string][]segment{"r": segs}}}, "r", true); !strings.Contains(pl, "#EXT-X-TARGETDURATION:3\n") {
		t.Errorf("playlist:\n%s", pl)
	}
}
