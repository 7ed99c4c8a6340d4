package uploads_test

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
)

// TestMeasureUpload reports the throughput of a direct upload through relaycast's signed local
// URLs (default 32 MiB parts) and the time complete takes to assemble it, for a file of N MiB:
//
//	RELAYCAST_MEASURE_UPLOAD=512 go test -run TestMeasureUpload -v ./uploads
//
// and, for a generated 720p clip, the time from complete to ready (the test archive: 2 rungs,
// x264 ultrafast, 2 in-process workers):
//
//	RELAYCAST_MEASURE_UPLOAD=clip:60s go test -run TestMeasureUpload -v -timeout 20m ./uploads
func TestMeasureUpload(t *testing.T) {
	env := os.Getenv("RELAYCAST_MEASURE_UPLOAD")
	if env == "" {
		t.Skip("set RELAYCAST_MEASURE_UPLOAD=<MiB> or clip:<duration> to measure")
	}
	needTools(t)
	s := startArchive(t, func(c *config.Config) { c.ChunkDuration = 10 * time.Second })
	tok := s.Token(t, "shop", auth.GrantPublish)
	if d, ok := strings.CutPrefix(env, "clip:"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		events := sse(t, s.Base)
		file := mediaFile(t, testmedia.FileParams{Path: filepath.Join(t.TempDir(), "clip.mp4"), Duration: dur, Size: "1280x720"})
		began := time.Now()
		id, _ := uploadFile(t, s, "shop", file)
		completed := time.Now()
		r := waitStatus(t, events, id, catalog.StatusReady, 20*time.Minute)
		t.Logf("%v 1280x720 clip: upload+complete %v, ready %.1f s after complete, renditions %v",
			dur, completed.Sub(began).Round(time.Millisecond), time.Since(completed).Seconds(), r.Renditions)
		return
	}
	mib, err := strconv.Atoi(env)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, mib<<20)
	_, _ = rand.Read(data)
	began := time.Now()
	up := startUpload(t, s, tok, "shop", "big.mp4", data)
	parts := sendParts(t, s, up, data)
	sent := time.Since(began)
	began = time.Now()
	if code, msg := api(t, http.MethodPost, s.Base+up.CompleteURL, tok, map[string]any{"parts": parts}, nil); code != http.StatusAccepted {
		t.Fatalf("complete: %d %s", code, msg)
	}
	t.Logf("%d MiB in %d parts: PUTs %.0f MiB/s (%v), complete (verify + assemble) %v",
		mib, len(parts), float64(mib)/sent.Seconds(), sent.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}
