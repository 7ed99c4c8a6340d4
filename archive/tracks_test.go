package archive_test

import (
	le "encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/transcode"
)

// writeNoiseOgg writes an Ogg Opus file of dur whose packets (20 ms each) are one fixed block of
// bytes no decoder accepts, as the loadtest's synthetic publisher sends them.
func writeNoiseOgg(t *testing.T, path string, dur time.Duration) {
	t.Helper()
	var crcTable [256]uint32
	for i := range crcTable {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		crcTable[i] = r
	}
	var out []byte
	seq := uint32(0)
	page := func(data []byte, granule uint64, flags byte) {
		h := make([]byte, 27, 28+len(data))
		copy(h, "OggS")
		h[5] = flags
		le.LittleEndian.PutUint64(h[6:], granule)
		le.LittleEndian.PutUint32(h[14:], 0x5eed)
		le.LittleEndian.PutUint32(h[18:], seq)
		seq++
		h[26] = 1
		h = append(h, byte(len(data)))
		h = append(h, data...)
		var crc uint32
		for _, b := range h {
			crc = crc<<8 ^ crcTable[byte(crc>>24)^b]
		}
		le.LittleEndian.PutUint32(h[22:], crc)
		out = append(out, h...)
	}
	head := []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
	page(head, 0, 2)
	page([]byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"), 0, 0)
	block := make([]byte, 120)
	for i := range block {
		block[i] = byte(i*37 + 11)
	}
	block[0], block[1] = 0xff, 0 // code 3 with 0 frames: "Error parsing the packet header"
	n := int(dur / (20 * time.Millisecond))
	for i := range n {
		flags := byte(0)
		if i == n-1 {
			flags = 4
		}
		page(block, uint64(i+1)*960, flags)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadAudioRecording: a broadcast of real video and undecodable audio becomes a ready
// recording of its video that says the audio was dropped and why (defect 2, 8); the operator
// log is in the admin API only, never in public answers or events (defect 3).
func TestBadAudioRecording(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes (skipped with -short)")
	}
	s := startArchive(t, nil)
	events := sse(t, s.Base)
	video, _ := clip(t, 6*time.Second)
	noise := filepath.Join(t.TempDir(), "noise.ogg")
	writeNoiseOgg(t, noise, 6*time.Second)
	_, stop := publishFiles(t, s.Base, s.Signer(), "shop", video, noise)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	time.Sleep(time.Until(rec.StartedAt.Add(6 * time.Second)))
	stop()
	var r catalog.Recording
	deadline := time.After(90 * time.Second)
wait:
	for {
		select {
		case e := <-events:
			if e.ID != rec.ID {
				continue
			}
			if strings.Contains(string(e.Data), `"log"`) {
				t.Errorf("an event carries the operator log: %s", e.Data)
			}
			if e.Type == "recording" {
				_ = json.Unmarshal(e.Data, &r)
				if r.Status == catalog.StatusReady || r.Status == catalog.StatusFailed {
					break wait
				}
			}
		case <-deadline:
			t.Fatal("recording not done")
		}
	}
	if r.Status != catalog.StatusReady {
		t.Fatalf("recording %s: %q", r.Status, r.Error)
	}
	tracks := map[string]catalog.Track{}
	for _, tr := range r.Tracks {
		tracks[tr.Kind] = tr
	}
	if a, v := tracks["audio"], tracks["video"]; !a.Dropped || a.Reason == "" || v.Dropped || v.Codec != "vp8" || a.Codec != "opus" {
		t.Fatalf("tracks %+v", r.Tracks)
	}
	if r.Error != transcode.MsgAudioDropped || r.Retryable {
		t.Errorf("error %q retryable %v", r.Error, r.Retryable)
	}
	for _, name := range r.Renditions {
		rep, err := testmedia.Probe(strings.TrimSuffix(s.Base+r.HLSURL, "master.m3u8") + name + "/index.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Video || math.Abs(rep.Duration-r.Duration) > 1 || r.Duration < 4 {
			t.Errorf("%s: %+v (recording %.2f s)", name, rep, r.Duration)
		}
	}

	// Public answers: no log.
	for _, u := range []string{"/api/recordings/" + rec.ID, "/api/recordings"} {
		res, err := http.Get(s.Base + u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body := string(b)
		if res.StatusCode != 200 || strings.Contains(body, `"log"`) || !strings.Contains(body, `"dropped":true`) {
			t.Errorf("GET %s: %d %s", u, res.StatusCode, body)
		}
	}
	// Admin: the log, cleaned.
	admin := "/api/admin/recordings/" + rec.ID
	if code := getJSON(t, s.Base+admin, "", nil); code != 401 {
		t.Errorf("admin recording without a token: %d", code)
	}
	if code := getJSON(t, s.Base+admin, s.Token(t, "shop", auth.GrantPublish), nil); code != 403 {
		t.Errorf("admin recording as publisher: %d", code)
	}
	var full catalog.Recording
	if code := getJSON(t, s.Base+admin, s.Token(t, auth.AnyRoom, auth.GrantAdmin), &full); code != 200 ||
		!strings.Contains(full.Log, "Error parsing the packet header") || strings.Contains(full.Log, "@ 0x") || len(full.Log) > transcode.MaxLog {
		t.Errorf("admin recording: %d log %q", code, full.Log)
	}
	if code := getJSON(t, s.Base+"/api/admin/recordings/nope", s.Token(t, auth.AnyRoom, auth.GrantAdmin), nil); code != 404 {
		t.Errorf("admin recording unknown: %d", code)
	}
}
