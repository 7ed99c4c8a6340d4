package archive_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/recorder"
)

// TestArchiveCodecs: a WHIP publisher of real H.264, VP9 and AV1 video (and Opus) is recorded and
// archived like VP8: every rendition present, duration within 1 s, audio and video, A/V start
// offset < 100 ms, no gaps at the chunk borders (3 s chunks: several per broadcast). The three
// broadcasts run at once on one server, in their own rooms. H.264 is published from the raw
// Annex-B stream an encoder writes (as OBS-like senders produce it), VP9 and AV1 from IVF.
func TestArchiveCodecs(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes video (skipped with -short)")
	}
	const dur = 12 * time.Second
	s := startArchive(t, func(c *config.Config) { c.ChunkDuration = 3 * time.Second })
	for _, tc := range []struct {
		codec, mime string
		annexB      bool
	}{
		{testmedia.CodecH264, webrtc.MimeTypeH264, true},
		{testmedia.CodecVP9, webrtc.MimeTypeVP9, false},
		{testmedia.CodecAV1, webrtc.MimeTypeAV1, false},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			v, a, err := testmedia.Generate(testmedia.Params{Dir: dir, Duration: dur, Codec: tc.codec})
			if errors.Is(err, testmedia.ErrNoEncoder) && os.Getenv("CI") != "true" {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.annexB {
				v = testmedia.AnnexB(v)
			}
			room := "shop-" + tc.codec
			events := sse(t, s.Base)
			pub, stop := publishFiles(t, s.Base, s.Signer(), room, v, a)
			rec := waitRoom(t, events, room, catalog.StatusRecording, 10*time.Second)
			var rooms []struct {
				Room   string   `json:"room"`
				Codecs []string `json:"codecs"`
			}
			getJSON(t, s.Base+"/api/rooms", "", &rooms)
			for _, r := range rooms {
				if r.Room == room && !slices.Contains(r.Codecs, tc.mime) {
					t.Errorf("room %s is live with %v, want %s", room, r.Codecs, tc.mime)
				}
			}
			select {
			case <-pub.Done():
			case <-time.After(dur + 20*time.Second):
				t.Fatal("publisher did not finish")
			}
			ended := stop()
			r := waitStatus(t, events, rec.ID, catalog.StatusReady, 90*time.Second)
			t.Logf("%s: VOD ready %.2f s after the broadcast ended (%.0f s broadcast)", tc.codec, time.Since(ended).Seconds(), dur.Seconds())
			if want := []string{"360p", "240p"}; !slices.Equal(r.Renditions, want) {
				t.Errorf("renditions %v, want %v (from the 640x360 source)", r.Renditions, want)
			}
			s.CheckArchive(t, r, dur.Seconds())
			checkRecorded(t, filepath.Join(s.Config.RecordingsDir(), r.ID), tc.mime)
		})
	}
}

// checkRecorded reads the raw recording left on disk (retention keeps it): the source size and
// the codec of every chunk.
func checkRecorded(t *testing.T, dir, mime string) {
	t.Helper()
	var m recorder.Manifest
	if b, err := os.ReadFile(filepath.Join(dir, "recording.json")); err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Width != 640 || m.Height != 360 {
		t.Errorf("source size %dx%d, want 640x360", m.Width, m.Height)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "c*", "chunk.json"))
	if len(files) < 3 {
		t.Errorf("%d chunks, want several", len(files))
	}
	for _, f := range files {
		var c recorder.ChunkInfo
		if b, err := os.ReadFile(f); err != nil || json.Unmarshal(b, &c) != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Video == nil || !strings.EqualFold(c.Video.Codec, mime) {
			t.Errorf("%s: video %+v, want %s", filepath.Base(filepath.Dir(f)), c.Video, mime)
		}
	}
}

// waitRoom reads events until a recording of room reaches status.
func waitRoom(t *testing.T, ch <-chan testserver.Event, room string, status catalog.Status, timeout time.Duration) catalog.Recording {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-ch:
			if e.Type != "recording" {
				continue
			}
			var r catalog.Recording
			_ = json.Unmarshal(e.Data, &r)
			if r.Room == room && r.Status == status {
				return r
			}
		case <-deadline:
			t.Fatalf("no recording of room %q %s within %v", room, status, timeout)
		}
	}
}
