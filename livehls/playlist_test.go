package livehls

import (
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

func TestMediaPlaylistTags(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("room1", Config{})
	f := newFeeder(t, st, true, "hi", "lo")
	f.steps(30 * 7) // 7 s: three complete 2 s segments and an open one

	body := fetchAll(t, srv, "/live/room1/hi/index.m3u8")
	m := parseMedia(t, body)
	if m.Version < 9 || m.TargetDuration != 2 {
		t.Fatalf("version %d target %d\n%s", m.Version, m.TargetDuration, body)
	}
	sc := m.ServerControl
	if sc == nil || !sc.CanBlockReload || sc.PartHoldBack == nil || sc.CanSkipUntil == nil {
		t.Fatalf("server control %+v\n%s", sc, body)
	}
	if m.PartInf == nil || m.PartInf.PartTarget != 333*time.Millisecond {
		t.Fatalf("part inf %+v", m.PartInf)
	}
	if *sc.PartHoldBack < 3*m.PartInf.PartTarget {
		t.Fatalf("PART-HOLD-BACK %v < 3 x %v", *sc.PartHoldBack, m.PartInf.PartTarget)
	}
	if *sc.CanSkipUntil < 6*time.Duration(m.TargetDuration)*time.Second {
		t.Fatalf("CAN-SKIP-UNTIL %v", *sc.CanSkipUntil)
	}
	if len(m.Segments) != 3 || m.MediaSequence != 0 || m.Map == nil || !strings.HasSuffix(m.Map.URI, "/init1.mp4") {
		t.Fatalf("segments %d msn %d map %+v\n%s", len(m.Segments), m.MediaSequence, m.Map, body)
	}
	for i, sg := range m.Segments {
		if sg.Duration > time.Duration(m.TargetDuration)*time.Second || sg.Duration < 2*time.Second-frameDur {
			t.Errorf("segment %d duration %v", i, sg.Duration)
		}
		if sg.DateTime == nil {
			t.Fatalf("segment %d without PROGRAM-DATE-TIME", i)
		}
		want := st.Epoch().Add(time.Duration(i) * 2 * time.Second).Truncate(time.Millisecond)
		if d := sg.DateTime.Sub(want); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("segment %d PDT %v want %v", i, sg.DateTime, want)
		}
		if len(sg.Parts) == 0 {
			t.Errorf("segment %d (of the last 3) without parts", i)
		}
		var sum time.Duration
		for j, p := range sg.Parts {
			sum += p.Duration
			if p.Duration > m.PartInf.PartTarget {
				t.Errorf("part %d.%d %v > PART-TARGET", i, j, p.Duration)
			}
			if (j == 0) != p.Independent {
				t.Errorf("part %d.%d independent=%v", i, j, p.Independent)
			}
		}
		if d := sum - sg.Duration; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("segment %d: parts sum %v, EXTINF %v", i, sum, sg.Duration)
		}
	}
	if len(m.Parts) == 0 || m.PreloadHint == nil {
		t.Fatalf("open segment parts %d hint %+v\n%s", len(m.Parts), m.PreloadHint, body)
	}
	if m.Endlist {
		t.Fatal("ENDLIST while live")
	}
	rr := renditionReports(body)
	if len(rr) != 1 || !strings.Contains(rr[0], `URI="../lo/index.m3u8"`) || !strings.Contains(rr[0], "LAST-MSN=3,") {
		t.Fatalf("rendition reports %q", rr)
	}

	// The multivariant playlist: both variants, highest first, codecs from SPS and ASC.
	mb := fetchAll(t, srv, "/live/room1/index.m3u8")
	var mv playlist.Multivariant
	if err := mv.Unmarshal(mb); err != nil {
		t.Fatalf("%v\n%s", err, mb)
	}
	if len(mv.Variants) != 2 || mv.Variants[0].URI != "lo/index.m3u8" || mv.Variants[0].Bandwidth != 600000 {
		t.Fatalf("variants\n%s", mb)
	}
	v0 := mv.Variants[0]
	if v0.Resolution != "320x240" || v0.FrameRate == nil || *v0.FrameRate != 30 ||
		len(v0.Codecs) != 2 || !strings.HasPrefix(v0.Codecs[0], "avc1.") || v0.Codecs[1] != "mp4a.40.2" {
		t.Fatalf("variant %+v\n%s", v0, mb)
	}
}

// Reload after reload: MSNs and parts continue; the window slides with the discontinuity
// sequence; a delta update skips old segments.
func TestPlaylistContinuityWindowSkip(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{Window: 20 * time.Second})
	f := newFeeder(t, st, false, "v")
	type seen struct {
		dur  time.Duration
		uri  string
		disc bool
	}
	all := map[int]seen{}
	lastMSN := -1
	f.steps(75)
	for round := 0; round < 30; round++ {
		if round == 8 {
			st.Discontinuity()
		}
		f.steps(45)
		body := fetchAll(t, srv, "/live/r/v/index.m3u8")
		m := parseMedia(t, body)
		for i, sg := range m.Segments {
			msn := m.MediaSequence + i
			if old, ok := all[msn]; ok && (old.uri != sg.URI || old.dur != sg.Duration) {
				t.Fatalf("segment %d changed: %+v -> %s %v", msn, old, sg.URI, sg.Duration)
			}
			all[msn] = seen{sg.Duration, sg.URI, sg.Discontinuity}
			if msn > lastMSN {
				lastMSN = msn
			}
		}
		var total time.Duration
		for _, sg := range m.Segments[1:] {
			total += sg.Duration
		}
		if total > 20*time.Second+10*time.Millisecond {
			t.Fatalf("window holds %v past its first segment", total)
		}
	}
	for msn := 0; msn <= lastMSN; msn++ {
		if _, ok := all[msn]; !ok {
			t.Fatalf("MSN %d never seen (gap)", msn)
		}
	}
	discs := 0
	for _, s := range all {
		if s.disc {
			discs++
		}
	}
	if discs != 1 {
		t.Fatalf("%d discontinuities, want 1", discs)
	}
	body := fetchAll(t, srv, "/live/r/v/index.m3u8")
	m := parseMedia(t, body)
	if m.DiscontinuitySequence == nil || *m.DiscontinuitySequence != 1 {
		t.Fatalf("discontinuity sequence %d after the discontinuity left the window\n%s", *m.DiscontinuitySequence, body)
	}
	if m.MediaSequence == 0 {
		t.Fatal("window did not slide")
	}
	// Delta update: segments more than CAN-SKIP-UNTIL (6 x 2 s) from the end are skipped.
	sb := fetchAll(t, srv, "/live/r/v/index.m3u8?_HLS_skip=YES")
	sm := parseMedia(t, sb)
	if sm.Skip == nil || sm.Skip.SkippedSegments == 0 {
		t.Fatalf("no EXT-X-SKIP\n%s", sb)
	}
	if sm.MediaSequence != m.MediaSequence || sm.Skip.SkippedSegments+len(sm.Segments) != len(m.Segments) {
		t.Fatalf("skip %d + %d != %d", sm.Skip.SkippedSegments, len(sm.Segments), len(m.Segments))
	}
	if sm.Segments[0].URI != m.Segments[sm.Skip.SkippedSegments].URI || sm.Map == nil {
		t.Fatal("delta update does not line up with the full playlist")
	}
	var fromEnd time.Duration
	for _, sg := range sm.Segments {
		fromEnd += sg.Duration
	}
	if fromEnd > 12*time.Second+2*time.Second {
		t.Fatalf("delta update keeps %v", fromEnd)
	}
	if b := fetchAll(t, srv, "/live/r/v/index.m3u8?_HLS_skip=v2"); string(b) != string(sb) {
		t.Fatal("v2 differs")
	}
}

// A new resolution starts a new segment with a new init section (EXT-X-MAP) and a discontinuity.
func TestNewSPSNewInit(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, false, "v")
	f.steps(75)
	// The same picture with a different SPS (level byte changed) at the next IDR.
	aus, _, _ := loadMedia(t)
	for i := 0; i < 60; i++ {
		au := aus[(f.frame)%len(aus)]
		var out [][]byte
		for _, n := range au {
			if n[0]&0x1f == 7 {
				c := append([]byte(nil), n...)
				c[3]++ // level_idc
				n = c
			}
			out = append(out, n)
		}
		pts := time.Duration(f.frame) * frameDur
		if err := f.vs[0].WriteH264(pts, pts, out); err != nil {
			t.Fatal(err)
		}
		f.frame++
	}
	f.steps(70)
	body := fetchAll(t, srv, "/live/r/v/index.m3u8")
	if n := strings.Count(string(body), "#EXT-X-MAP:"); n != 3 {
		t.Fatalf("%d EXT-X-MAP\n%s", n, body)
	}
	if !strings.Contains(string(body), "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\""+st.ID()+"/init2.mp4\"") {
		t.Fatalf("no discontinuity before the new init\n%s", body)
	}
}
