package livehls

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// partTracks parses a part and returns its video and audio track (audio nil when absent).
func partTracks(t *testing.T, data []byte) (v, a *fmp4.PartTrack) {
	t.Helper()
	var ps fmp4.Parts
	if err := ps.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		for _, tr := range p.Tracks {
			switch tr.ID {
			case videoTrackID:
				v = tr
			case audioTrackID:
				a = tr
			}
		}
	}
	return v, a
}

// Audio that lags the video (a transcoder) is muxed into the part covering its time: parts
// wait for it, and every part carries the audio of its span, contiguous across parts.
func TestLaggingAudioMuxedIntoItsPart(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, true, "v")
	f.audioLag = 200 * time.Millisecond // less than a part target
	f.steps(200)
	st.mu.Lock()
	v := st.variants[0]
	parts := append([]*part(nil), v.parts...)
	st.mu.Unlock()
	if len(parts) < 15 {
		t.Fatalf("%d parts", len(parts))
	}
	rate := 48000
	var nextAudio uint64
	for i, p := range parts {
		vt, at := partTracks(t, p.data)
		if vt == nil || at == nil || len(at.Samples) == 0 {
			t.Fatalf("part %d: video %v audio %v", i, vt != nil, at != nil)
		}
		vStart := float64(vt.BaseTime) / 90000
		vEnd := vStart + p.dur.Seconds()
		aStart := float64(at.BaseTime) / float64(rate)
		aEnd := aStart + float64(len(at.Samples)*1024)/float64(rate)
		if i > 0 && at.BaseTime != nextAudio {
			t.Fatalf("part %d: audio starts at %d, previous ended at %d", i, at.BaseTime, nextAudio)
		}
		nextAudio = at.BaseTime + uint64(len(at.Samples)*1024)
		// The audio of a part lies in its span (within one AAC frame).
		if aStart < vStart-0.022 || aEnd > vEnd+0.022 {
			t.Fatalf("part %d: video %.3f-%.3f audio %.3f-%.3f", i, vStart, vEnd, aStart, aEnd)
		}
	}
}

// Audio that stops (or lags more than a part target) does not stall the video: parts are
// published without waiting longer than about one part target.
func TestAudioStallDoesNotStallVideo(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, true, "v")
	f.steps(90)
	f.audio = false // audio stops
	st.mu.Lock()
	before := st.variants[0].nextPart
	st.mu.Unlock()
	f.steps(60) // 2 s of video
	st.mu.Lock()
	v := st.variants[0]
	after := v.nextPart
	pending := len(v.sealed)
	st.mu.Unlock()
	if after-before < 5 || pending > 2 {
		t.Fatalf("parts published %d, waiting %d", after-before, pending)
	}
	// The video-only parts still play: the playlist lists them.
	body := fetchAll(t, srv, fmt.Sprintf("/live/r/v/index.m3u8?_HLS_msn=%d", 1))
	if len(parseMedia(t, body).Segments) < 2 {
		t.Fatalf("playlist\n%s", body)
	}
}

// A video-only stream (no SetAudio) has no audio track and CODECS without mp4a.
func TestVideoOnly(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, false, "v")
	f.steps(70)
	st.mu.Lock()
	data := st.variants[0].parts[0].data
	codecs := st.variants[0].codecs
	st.mu.Unlock()
	if _, a := partTracks(t, data); a != nil {
		t.Fatal("audio track in a video-only stream")
	}
	if !strings.HasPrefix(codecs, "avc1.") || strings.Contains(codecs, "mp4a") || len(codecs) != len("avc1.64000d") {
		t.Fatalf("codecs %q", codecs)
	}
	if err := st.WriteAAC(0, [][]byte{{1}}); err == nil {
		t.Fatal("WriteAAC before SetAudio accepted")
	}
}

func TestBadInput(t *testing.T) {
	st := NewStream(Config{})
	v, err := st.AddVariant(VariantParams{Name: "v"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddVariant(VariantParams{Name: "v"}); err == nil {
		t.Fatal("duplicate variant")
	}
	for _, n := range []string{"", "../x", "a/b", "a.b", "-a", "x%2f"} {
		if _, err := st.AddVariant(VariantParams{Name: n}); err == nil {
			t.Errorf("variant name %q accepted", n)
		}
	}
	aus, _, _ := loadMedia(t)
	idrNoSPS := [][]byte{}
	for _, n := range aus[0] {
		if t := n[0] & 0x1f; t != 7 && t != 8 {
			idrNoSPS = append(idrNoSPS, n)
		}
	}
	cases := []struct {
		name     string
		pts, dts time.Duration
		au       [][]byte
	}{
		{"empty", 0, 0, nil},
		{"empty nalu", 0, 0, [][]byte{{}}},
		{"idr without sps", 0, 0, idrNoSPS},
		{"negative dts", 0, -1, aus[0]},
		{"pts before dts", 0, time.Second, aus[0]},
		{"bad sps", 0, 0, [][]byte{{0x67, 0xff}, aus[0][len(aus[0])-1]}},
	}
	for _, c := range cases {
		if err := v.WriteH264(c.pts, c.dts, c.au); err == nil {
			t.Errorf("%s accepted", c.name)
		}
	}
	if err := v.WriteH264(0, 0, aus[0]); err != nil {
		t.Fatal(err)
	}
	// Going back a little is repaired; far back is refused.
	if err := v.WriteH264(0, 0, aus[1]); err != nil {
		t.Fatalf("small step back: %v", err)
	}
	if err := v.WriteH264(10*time.Second, 10*time.Second, aus[2]); err != nil {
		t.Fatal(err)
	}
	if err := v.WriteH264(time.Second, time.Second, aus[3]); err == nil {
		t.Fatal("9 s back accepted")
	}
	if err := st.SetAudio(AudioParams{Config: []byte{0xff}}); err == nil {
		t.Fatal("bad ASC accepted")
	}
	if err := st.SetAudio(AudioParams{}); err == nil {
		t.Fatal("empty audio params accepted")
	}
}

// A source whose encoder makes keyframes only on request is asked for one a part target before
// the segment target, and again every segment target while none comes.
func TestRequestKeyframe(t *testing.T) {
	st := NewStream(Config{})
	asks := 0
	v, err := st.AddVariant(VariantParams{Name: "v", RequestKeyframe: func() {
		asks++
		st.mu.Lock() // called outside the stream's lock
		st.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	aus, _, _ := loadMedia(t)
	// The IDR, then only the clip's non-IDR frames (keyframes dropped): 6 s of media.
	var frames [][][]byte
	for _, au := range aus {
		if !slices.Contains(naluTypes(au), 5) {
			frames = append(frames, au)
		}
	}
	if err := v.WriteH264(0, 0, aus[0]); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 180; i++ {
		pts := time.Duration(i) * frameDur
		if err := v.WriteH264(pts, pts, frames[i%len(frames)]); err != nil {
			t.Fatal(err)
		}
		if i == 49 && asks != 0 { // 1.63 s: not yet
			t.Fatalf("asked at %v", pts)
		}
		if i == 51 && asks != 1 { // 1.70 s >= 2 s - 333 ms
			t.Fatalf("%d asks at %v", asks, pts)
		}
	}
	if asks != 3 { // 1.67 s, 3.67 s, 5.67 s
		t.Fatalf("%d asks in 6 s", asks)
	}
}

func naluTypes(au [][]byte) []int {
	var out []int
	for _, n := range au {
		out = append(out, int(n[0]&0x1f))
	}
	return out
}
