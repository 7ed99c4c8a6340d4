package transcode

import (
	"strings"
	"testing"
)

// TestSeamDiscontinuity: after a hole (filled or not) the playlist marks a discontinuity where
// the timeline jumps (a takeover starts its part past the media the dead node may have had:
// archive/continue_inflight.go), and none where it goes on within seamTolerance; a jump that
// is not after a hole is left alone (chunks of one part are continuous by construction).
func TestSeamDiscontinuity(t *testing.T) {
	chunk := func(i int, start, d float64, afterHole bool) chunkDone {
		return chunkDone{Index: i, Start: start, Duration: d, afterHole: afterHole,
			Segments: map[string][]segment{"360p": {{URI: chunkName(i) + "_000.ts", Duration: d}}}}
	}
	for _, tc := range []struct {
		name   string
		chunks []chunkDone
		want   int // discontinuities
	}{
		{"filled hole, B's part 0.9 s later", []chunkDone{chunk(0, 0, 3, false), chunk(1, 3, 2.4, false), chunk(2, 6.3, 3, true)}, 1},
		{"filled hole, B's part 0.5 s earlier", []chunkDone{chunk(0, 0, 3, false), chunk(1, 3, 2.4, false), chunk(2, 4.9, 3, true)}, 1},
		{"filled hole, continuous", []chunkDone{chunk(0, 0, 3, false), chunk(1, 3, 3, false), chunk(2, 6.05, 3, true)}, 0},
		{"jump inside a part", []chunkDone{chunk(0, 0, 3, false), chunk(1, 3.5, 3, false)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := mediaPlaylist(tc.chunks, "360p", true)
			if n := strings.Count(pl, "#EXT-X-DISCONTINUITY\n"); n != tc.want {
				t.Errorf("%d discontinuities, want %d:\n%s", n, tc.want, pl)
			}
			if tc.want == 1 && !strings.Contains(pl, "#EXT-X-DISCONTINUITY\n#EXTINF:3.000000,\nc000002_000.ts") {
				t.Errorf("the discontinuity is not before chunk 2:\n%s", pl)
			}
		})
	}
}
