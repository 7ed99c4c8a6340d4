package testmedia

import (
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// NeedFFmpeg skips t when ffmpeg or ffprobe is missing, and fails it under CI (scripts/test.sh
// installs both).
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// Clips hands out VP8/Opus clips by duration, each generated once: a test binary keeps one
// Clips and its tests share the files. The zero value is ready to use; the files live in the
// system temp directory until it is cleaned.
type Clips struct {
	mu sync.Mutex
	m  map[time.Duration][2]string
}

// Get returns the video and audio file of a clip of d, generating it the first time.
func (c *Clips) Get(t testing.TB, d time.Duration) (video, audio string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.m[d]; ok {
		return f[0], f[1]
	}
	dir, err := os.MkdirTemp("", "relaycast-clip-")
	if err != nil {
		t.Fatal(err)
	}
	v, a, err := Generate(Params{Dir: dir, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	c.put(d, v, a)
	return v, a
}

// Put makes Get return video and audio for d (a clip a test made with other Params).
func (c *Clips) Put(d time.Duration, video, audio string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(d, video, audio)
}

func (c *Clips) put(d time.Duration, video, audio string) {
	if c.m == nil {
		c.m = map[time.Duration][2]string{}
	}
	c.m[d] = [2]string{video, audio}
}
