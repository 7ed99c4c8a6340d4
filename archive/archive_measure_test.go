package archive_test

import (
	"os"
	"testing"
	"time"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
)

// TestMeasureVODDelay publishes a clip with the production defaults (10 s chunks, default
// workers, full ladder) and reports how long after the end of the broadcast the VOD is ready:
//
//	RELAYCAST_MEASURE_VOD=30s RELAYCAST_MEASURE_SIZE=1280x720 go test -run TestMeasureVODDelay -v -timeout 20m ./archive
//
// RELAYCAST_MEASURE_CODEC=h264|vp9|av1 publishes that codec instead of VP8 (H.264 as a raw
// Annex-B stream).
func TestMeasureVODDelay(t *testing.T) {
	env := os.Getenv("RELAYCAST_MEASURE_VOD")
	if env == "" {
		t.Skip("set RELAYCAST_MEASURE_VOD=<broadcast length> to measure")
	}
	needTools(t)
	d, err := time.ParseDuration(env)
	if err != nil {
		t.Fatal(err)
	}
	size := os.Getenv("RELAYCAST_MEASURE_SIZE")
	if size == "" {
		size = "1280x720"
	}
	dir := t.TempDir()
	codec := os.Getenv("RELAYCAST_MEASURE_CODEC")
	v, a, err := testmedia.Generate(testmedia.Params{Dir: dir, Duration: d, Size: size, Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	if codec == testmedia.CodecH264 {
		v = testmedia.AnnexB(v)
	}
	testserver.PutClip(d, v, a)
	cfg := config.Default()
	cfg.HTTPAddr, cfg.ICEUDPPort, cfg.ICELoopback, cfg.DataDir = "127.0.0.1:0", 0, true, t.TempDir()
	cfg.AuthSecret, cfg.MaxConnsPerIP = "test-secret-0123456789abcdef", 0
	s := testserver.RunArchive(t, server.Params{Config: cfg, Stdout: os.Stderr, Logger: testserver.Logger(t), ArchiveTuning: archive.Tuning{PollInterval: 200 * time.Millisecond}})
	events := sse(t, s.Base)
	pub, stop := s.PublishFile(t, "measure", d)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	<-pub.Done()
	ended := stop()
	r := waitStatus(t, events, rec.ID, catalog.StatusReady, d+5*time.Minute)
	delay := time.Since(ended)
	rep, _ := testmedia.Probe(s.Base + r.HLSURL)
	t.Logf("broadcast %v %s at %s, workers %d, chunks %v: VOD ready %.2f s after the end; duration %.2f s, renditions %v, A/V offset %.3f s",
		d, codec, size, cfg.Workers, cfg.ChunkDuration, delay.Seconds(), r.Duration, r.Renditions, rep.AVOffset)
}
