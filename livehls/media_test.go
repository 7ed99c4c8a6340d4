package livehls

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// init + the parts of a segment decode with ffmpeg (no error) as H.264 320x240 + AAC of ~2 s.
func TestFFprobeDecodesSegment(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffprobe is required")
	}
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, true, "v")
	f.audioLag = 120 * time.Millisecond
	f.steps(130)
	id := st.ID()
	file := fetchAll(t, srv, "/live/r/v/"+id+"/init1.mp4")
	m := parseMedia(t, fetchAll(t, srv, "/live/r/v/index.m3u8"))
	for _, p := range m.Segments[1].Parts {
		file = append(file, fetchAll(t, srv, "/live/r/v/"+p.URI)...)
	}
	path := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=codec_name,width,height,sample_rate:format=duration,start_time", "-of", "json", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var pr struct {
		Streams []struct {
			CodecName  string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			SampleRate string `json:"sample_rate"`
		} `json:"streams"`
		Format struct {
			Duration  string `json:"duration"`
			StartTime string `json:"start_time"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &pr); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(pr.Streams) != 2 || pr.Streams[0].CodecName != "h264" || pr.Streams[0].Width != 320 ||
		pr.Streams[0].Height != 240 || pr.Streams[1].CodecName != "aac" || pr.Streams[1].SampleRate != "48000" {
		t.Fatalf("streams %s", out)
	}
	d, _ := strconv.ParseFloat(pr.Format.Duration, 64)
	s0, _ := strconv.ParseFloat(pr.Format.StartTime, 64)
	// ffprobe's duration runs from media time 0; the segment starts at 2 s (tfdt).
	if s0 < 1.99 || s0 > 2.01 {
		t.Fatalf("start_time %v, want 2 (segment 1)", s0)
	}
	d -= s0
	if d < 1.9 || d > 2.2 {
		t.Fatalf("duration %v (start %v)\n%s", d, s0, out)
	}
	dec, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(dec))) != 0 {
		t.Fatalf("decode: %v\n%s", err, dec)
	}
	// Decoded frame count: 60 video frames in a 2 s segment.
	cnt, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(cnt)) != "60" {
		t.Fatalf("frames %q %v", cnt, err)
	}
}

// gohlslib's low-latency client plays the live stream from an HTTP server: it gets H.264 and
// AAC in order, with parts and blocking reloads.
func TestGohlslibClientPlaysLive(t *testing.T) {
	srv := NewServer(ServerConfig{})
	defer srv.Close()
	st := srv.Open("r", Config{})
	f := newFeeder(t, st, true, "hi", "lo")
	f.audioLag = 150 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var fwg sync.WaitGroup
	fwg.Add(1)
	go func() { // real time, 30 fps
		defer fwg.Done()
		tk := time.NewTicker(frameDur)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				f.step()
			}
		}
	}()
	defer fwg.Wait()
	defer cancel()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	var mu sync.Mutex
	var vDTS []int64
	var aPTS []int64
	blocking, parts := 0, 0
	c := &gohlslib.Client{
		URI: hs.URL + "/live/r/index.m3u8",
		OnRequest: func(r *http.Request) {
			if strings.Contains(r.URL.RawQuery, "_HLS_skip=YES") {
				mu.Lock()
				blocking++
				mu.Unlock()
			}
		},
		OnDownloadPart: func(string) { mu.Lock(); parts++; mu.Unlock() },
	}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			switch tr.Codec.(type) {
			case *codecs.H264:
				c.OnDataH26x(tr, func(pts, dts int64, au [][]byte) {
					mu.Lock()
					vDTS = append(vDTS, dts)
					mu.Unlock()
				})
			case *codecs.MPEG4Audio:
				c.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) {
					mu.Lock()
					aPTS = append(aPTS, pts)
					mu.Unlock()
				})
			}
		}
		return nil
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		nv, na := len(vDTS), len(aPTS)
		mu.Unlock()
		if nv >= 90 && na >= 60 {
			break
		}
		select {
		case err := <-c.Wait():
			t.Fatalf("client: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d video, %d audio", nv, na)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(vDTS); i++ {
		if vDTS[i] <= vDTS[i-1] {
			t.Fatalf("video dts out of order at %d: %v", i, vDTS[i-1:i+1])
		}
	}
	for i := 1; i < len(aPTS); i++ {
		if aPTS[i] <= aPTS[i-1] {
			t.Fatalf("audio pts out of order at %d", i)
		}
	}
	if blocking == 0 || parts == 0 {
		t.Fatalf("delta reloads %d, parts %d", blocking, parts)
	}
	t.Log(fmt.Sprintf("video %d audio %d delta reloads %d parts %d", len(vDTS), len(aPTS), blocking, parts))
}
