package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/recorder"
)

// TestFilePublisherRecordingStart: a file publisher (keyframe every second, deaf to keyframe
// requests) is recorded from its first keyframe although the recorder may attach after it went
// by: the SFU replays the packets since the latest keyframe from its cache. In each broadcast
// the recording's first video frame is placed, on the wall clock, within 0.3 s of when the
// publisher started sending (Connect returning), and the video on disk is the whole clip but
// at most 0.3 s.
func TestFilePublisherRecordingStart(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes over WebRTC (skipped with -short)")
	}
	needFFmpeg(t)
	a := testserver.StartArchive(t, nil)
	recs := filepath.Join(a.Config.DataDir, "recordings")
	seen := map[string]bool{}
	const clip = 3 * time.Second
	for i := 0; i < 3; i++ {
		room := fmt.Sprintf("start%d", i)
		pub, stop := a.PublishFile(t, room, clip)
		sending := time.Now()
		var m recorder.Manifest
		var c recorder.ChunkInfo
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no recording with video", room)
			}
			files, _ := filepath.Glob(filepath.Join(recs, "*", "recording.json"))
			found := false
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil || json.Unmarshal(b, &m) != nil || m.Room != room || seen[m.ID] {
					continue
				}
				b, err = os.ReadFile(filepath.Join(filepath.Dir(f), "c000000", "chunk.json"))
				if err == nil && json.Unmarshal(b, &c) == nil && c.Video != nil {
					found = true
					break
				}
			}
			if found {
				break
			}
		}
		seen[m.ID] = true
		first := m.StartedAt.Add(time.Duration((c.Start + c.Video.Offset) * float64(time.Second)))
		late := first.Sub(sending).Seconds()
		t.Logf("%s: recording's first video frame %.3f s after the publisher started sending", room, late)
		if late > 0.3 {
			t.Errorf("%s: the recording starts %.2f s after the publisher started sending: want at most 0.3 s", room, late)
		}
		select {
		case <-pub.Done():
		case <-time.After(clip + 5*time.Second):
			t.Fatalf("%s: the clip was not sent", room)
		}
		stop()
		var videoEnd float64
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			videoEnd = 0
			chunks, _ := filepath.Glob(filepath.Join(recs, m.ID, "c*", "chunk.json"))
			for _, cf := range chunks {
				var ci recorder.ChunkInfo
				if b, err := os.ReadFile(cf); err == nil && json.Unmarshal(b, &ci) == nil && ci.Video != nil {
					if last, ok := lastIVFFrame(t, ci.Video.Path); ok {
						videoEnd = max(videoEnd, ci.Start+ci.Video.Offset+last+1.0/30)
					}
				}
			}
			if videoEnd-(c.Start+c.Video.Offset) >= clip.Seconds()-0.3 || time.Now().After(deadline) {
				break
			}
		}
		got := videoEnd - (c.Start + c.Video.Offset)
		t.Logf("%s: %.3f s of video recorded of a %.1f s clip", room, got, clip.Seconds())
		if got < clip.Seconds()-0.3 {
			t.Errorf("%s: %.2f s of video recorded of a %.1f s clip: want at most 0.3 s lost", room, got, clip.Seconds())
		}
	}
}
