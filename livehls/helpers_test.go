package livehls

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// testdata/video.h264: ffmpeg -f lavfi -i testsrc=size=320x240:rate=30 -t 4 -c:v libx264
// -preset veryfast -crf 36 -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 -bsf:v h264_mp4toannexb -f h264
// testdata/audio.aac: ffmpeg -f lavfi -i sine=frequency=440:sample_rate=48000 -t 4 -ac 2 -c:a aac -b:a 64k -f adts
const frameDur = time.Second / 30

var (
	loadOnce sync.Once
	testAUs  [][][]byte
	testAAC  [][]byte
	testASC  mpeg4audio.AudioSpecificConfig
)

func loadMedia(t testing.TB) ([][][]byte, [][]byte, mpeg4audio.AudioSpecificConfig) {
	t.Helper()
	loadOnce.Do(func() {
		raw, err := os.ReadFile("testdata/video.h264")
		if err != nil {
			panic(err)
		}
		var ab h264.AnnexB
		if err := ab.Unmarshal(raw); err != nil {
			panic(err)
		}
		var cur [][]byte
		hasSlice := false
		for _, n := range ab {
			typ := h264.NALUType(n[0] & 0x1f)
			slice := typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR
			if hasSlice && (!slice || n[1]&0x80 != 0) {
				testAUs = append(testAUs, cur)
				cur, hasSlice = nil, false
			}
			cur = append(cur, n)
			hasSlice = hasSlice || slice
		}
		if len(cur) > 0 {
			testAUs = append(testAUs, cur)
		}
		araw, err := os.ReadFile("testdata/audio.aac")
		if err != nil {
			panic(err)
		}
		var pk mpeg4audio.ADTSPackets
		if err := pk.Unmarshal(araw); err != nil {
			panic(err)
		}
		for _, p := range pk {
			testAAC = append(testAAC, p.AU)
		}
		testASC = mpeg4audio.AudioSpecificConfig{Type: pk[0].Type, SampleRate: pk[0].SampleRate, ChannelCount: pk[0].ChannelCount}
	})
	return testAUs, testAAC, testASC
}

// feeder writes the test media in a loop with a continuous timeline.
type feeder struct {
	t      testing.TB
	st     *Stream
	vs     []*Variant
	audio  bool
	frame  int           // next video frame
	aPTS   time.Duration // next audio pts
	aIndex int
	// audioLag delays audio behind video (a transcoder).
	audioLag time.Duration
}

func newFeeder(t testing.TB, st *Stream, audio bool, names ...string) *feeder {
	t.Helper()
	_, _, asc := loadMedia(t)
	f := &feeder{t: t, st: st, audio: audio}
	if audio {
		cfg, err := asc.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetAudio(AudioParams{Config: cfg}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		v, err := st.AddVariant(VariantParams{Name: n, Bandwidth: 500000 + len(f.vs)*100000})
		if err != nil {
			t.Fatal(err)
		}
		f.vs = append(f.vs, v)
	}
	return f
}

// step writes one video frame to every variant and the audio up to it.
func (f *feeder) step() {
	f.t.Helper()
	aus, aac, asc := loadMedia(f.t)
	pts := time.Duration(f.frame) * frameDur
	au := aus[f.frame%len(aus)]
	for _, v := range f.vs {
		if err := v.WriteH264(pts, pts, au); err != nil {
			f.t.Fatalf("frame %d: %v", f.frame, err)
		}
	}
	f.frame++
	if f.audio {
		fd := time.Duration(1024) * time.Second / time.Duration(asc.SampleRate)
		for f.aPTS+fd <= pts-f.audioLag {
			if err := f.st.WriteAAC(f.aPTS, [][]byte{aac[f.aIndex%len(aac)]}); err != nil {
				f.t.Fatal(err)
			}
			f.aIndex++
			f.aPTS += fd
		}
	}
}

func (f *feeder) steps(n int) {
	for range n {
		f.step()
	}
}

// get does one request against the handler.
func get(t testing.TB, h http.Handler, url string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, url, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func parseMedia(t testing.TB, body []byte) *playlist.Media {
	t.Helper()
	var m playlist.Media
	if err := m.Unmarshal(body); err != nil {
		t.Fatalf("media playlist: %v\n%s", err, body)
	}
	return &m
}

// renditionReports extracts EXT-X-RENDITION-REPORT lines (gohlslib does not parse them).
func renditionReports(body []byte) []string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "#EXT-X-RENDITION-REPORT:") {
			out = append(out, l)
		}
	}
	return out
}

func fetchAll(t testing.TB, h http.Handler, url string) []byte {
	t.Helper()
	w := get(t, h, url)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", url, w.Code, w.Body.String())
	}
	b, _ := io.ReadAll(w.Body)
	return bytes.Clone(b)
}
