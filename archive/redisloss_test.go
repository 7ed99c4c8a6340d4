package archive_test

import (
	"testing"
	"time"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/redistest"
)

// TestRedisRestartMidShow: Redis crashes and comes back empty while a broadcast is recorded (its
// queued jobs and the recordings' state in Redis are gone). The show goes on, and the recording
// is archived in full soon after it ends — without waiting for the periodic reconciler.
func TestRedisRestartMidShow(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes (skipped with -short)")
	}
	addr, restart := redistest.Own(t)
	// No workers until the restart: the first chunks' jobs wait in Redis and are lost with it.
	s := startArchive(t, func(c *config.Config) { c.RedisURL, c.Workers = "redis://"+addr, 0 })
	_, stop := s.PublishFile(t, "shop", 12*time.Second)
	rec := pollRecording(t, s.Base, catalog.StatusRecording, 10*time.Second)
	time.Sleep(time.Until(rec.StartedAt.Add(9 * time.Second))) // two 4 s chunks closed and queued
	restart()
	restarted := time.Now()
	time.Sleep(time.Until(rec.StartedAt.Add(12 * time.Second)))
	stop()
	s.RunWorker(t)
	r := pollRecording(t, s.Base, catalog.StatusReady, 60*time.Second)
	t.Logf("ready %.1f s after Redis came back empty", time.Since(restarted).Seconds())
	s.CheckArchive(t, r, 12)
}
