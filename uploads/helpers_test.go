package uploads_test

import (
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
)

// The helpers of the tests of packages archive, uploads and httpapi (the same file in each;
// the shared ones live in internal/testserver).

type archServer struct {
	*server.Server
	url string
	cfg config.Config
}

func startArchive(t *testing.T, mutate func(*config.Config)) *archServer {
	t.Helper()
	srv, cfg := testserver.StartArchive(t, mutate)
	return &archServer{Server: srv, url: srv.URL(), cfg: cfg}
}

func (s *archServer) token(t *testing.T, room string, g auth.Grant) string {
	t.Helper()
	tok, err := s.Signer().Issue(room, []auth.Grant{g}, time.Hour, "seller-"+room)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func needTools(t *testing.T) { t.Helper(); testmedia.NeedFFmpeg(t) }

// clips are the VP8/Opus clips of this test binary, made once per duration.
var clips testmedia.Clips

func clip(t *testing.T, d time.Duration) (video, audio string) { t.Helper(); return clips.Get(t, d) }

// publishFile publishes the clip over WHIP; it returns the publisher and a function that ends
// the broadcast (WHIP DELETE) and returns when it did.
func publishFile(t *testing.T, s *archServer, room string, d time.Duration) (*client.FilePublisher, func() time.Time) {
	t.Helper()
	return publishTo(t, s.url, s.Signer(), room, d)
}

func publishTo(t *testing.T, url string, signer *auth.Signer, room string, d time.Duration) (*client.FilePublisher, func() time.Time) {
	t.Helper()
	v, a := clip(t, d)
	return publishFiles(t, url, signer, room, v, a)
}

// checkArchive verifies a ready recording's HLS with ffprobe.
func checkArchive(t *testing.T, s *archServer, r catalog.Recording, want float64) {
	t.Helper()
	checkHLS(t, s.url+r.HLSURL, r, want, 1)
}

type sseEvent = testserver.Event

var (
	testLogger   = testserver.Logger
	publishFiles = testserver.PublishFiles
	sse          = testserver.SSE
	waitStatus   = testserver.WaitStatus
	getJSON      = testserver.GetJSON
	do           = testserver.Do
	checkHLS     = testserver.CheckHLS
	mirror       = testserver.Mirror
	testRedisURL = testserver.RedisURL
)
