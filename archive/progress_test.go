package archive_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
)

// TestProgressFromSeparateWorker: while a separate `relaycast worker` (sharing a real Redis)
// transcodes, the recording API's progress follows the SSE progress events instead of staying 0
// (defect 12).
func TestProgressFromSeparateWorker(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes (skipped with -short)")
	}
	rurl := testRedisURL(t, 12)
	s := startArchive(t, func(c *config.Config) { c.RedisURL, c.Workers, c.ChunkDuration = rurl, 0, 2*time.Second })
	events := sse(t, s.Base)
	_, stop := s.PublishFile(t, "shop", 8*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	time.Sleep(time.Until(rec.StartedAt.Add(8 * time.Second)))
	stop()
	waitStatus(t, events, rec.ID, catalog.StatusProcessing, 10*time.Second)
	time.Sleep(2 * time.Second) // every chunk and the end are in the queue before the worker starts

	s.RunWorker(t)

	// Poll the API while the worker runs: a value strictly between 0 and 100 must show.
	var seen []float64
	deadline := time.Now().Add(120 * time.Second)
	for {
		var r catalog.Recording
		if code := getJSON(t, s.Base+"/api/recordings/"+rec.ID, "", &r); code != 200 {
			t.Fatalf("get: %d", code)
		}
		if r.Status == catalog.StatusProcessing && r.Progress > 0 && r.Progress < 100 {
			t.Logf("API progress %.0f while processing", r.Progress)
			break
		}
		if r.Status == catalog.StatusReady || r.Status == catalog.StatusFailed || time.Now().After(deadline) {
			t.Fatalf("recording %s (progress %.0f) and the API never showed progress; progress events: %v", r.Status, r.Progress, seen)
		}
		select {
		case e := <-events:
			if e.Type == "progress" {
				var p struct {
					Progress float64 `json:"progress"`
				}
				_ = json.Unmarshal(e.Data, &p)
				seen = append(seen, p.Progress)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	for {
		var r catalog.Recording
		getJSON(t, s.Base+"/api/recordings/"+rec.ID, "", &r)
		if r.Status == catalog.StatusReady {
			if r.Progress != 100 {
				t.Errorf("ready with progress %.0f", r.Progress)
			}
			return
		}
		if r.Status == catalog.StatusFailed || time.Now().After(deadline) {
			t.Fatalf("not ready: %s %s", r.Status, r.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
