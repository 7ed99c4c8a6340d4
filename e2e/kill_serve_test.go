package e2e_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/recorder"
)

// TestKillServe: a real `relaycast serve` process is killed with SIGKILL while a publisher
// broadcasts (a VP8/Opus clip over WHIP, keyframe every second); what the recorder had put on
// disk is compared with what was sent. Media lost at the kill = the time from the recording's
// first packet to the kill, minus the end of each track's media on disk (last IVF frame + one
// frame; last Ogg granule) on the recording timeline; the worst track counts. Three kills at
// different moments (mid-chunk and just after a chunk cut); each must lose at most 0.5 s.
func TestKillServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills server processes (skipped with -short)")
	}
	needFFmpeg(t)
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/relaycast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	v, a := clip(t, 20*time.Second)
	const secret = "kill-secret-0123456789abcdef"
	signer, err := auth.NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i, at := range []time.Duration{3300 * time.Millisecond, 5 * time.Second, 6700 * time.Millisecond} {
		t.Run(fmt.Sprintf("kill-at-%.1fs", at.Seconds()), func(t *testing.T) {
			dir := t.TempDir()
			port := freeTCPPort(t)
			url := "http://127.0.0.1:" + strconv.Itoa(port)
			logf, _ := os.Create(filepath.Join(dir, "serve.log"))
			defer logf.Close()
			srv := exec.Command(bin, "serve", "--http", "127.0.0.1:"+strconv.Itoa(port), "--ice-udp-port", "0", "--ice-loopback", "--rate-limit-ip", "off", "--rate-limit-user", "off",
				"--data-dir", filepath.Join(dir, "data"), "--auth-secret", secret, "--chunk-duration", "3s", "--log-level", "debug")
			srv.Stdout, srv.Stderr = logf, logf
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if srv.ProcessState == nil {
					_ = srv.Process.Kill()
					_ = srv.Wait()
				}
				if t.Failed() {
					b, _ := os.ReadFile(logf.Name())
					t.Logf("--- serve log ---\n%s", b)
				}
			}()
			waitHTTP(t, url+"/readyz")

			room := fmt.Sprintf("kill%d", i)
			pub, err := client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: v, Audio: a})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			tok, _ := signer.Issue(room, []auth.Grant{auth.GrantPublish}, time.Hour, "seller")
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := pub.Connect(ctx, client.WHIP(nil, url+"/whip/"+room, tok, new(string))); err != nil {
				t.Fatal(err)
			}
			var m recorder.Manifest
			recs := filepath.Join(dir, "data", "recordings")
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if f, _ := filepath.Glob(filepath.Join(recs, "*", "recording.json")); len(f) == 1 {
					if b, err := os.ReadFile(f[0]); err == nil && json.Unmarshal(b, &m) == nil {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("no recording started")
				}
			}
			time.Sleep(time.Until(m.StartedAt.Add(at)))
			killed := time.Now()
			if err := srv.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			_ = srv.Wait()
			sent := killed.Sub(m.StartedAt).Seconds()

			chunks, _ := filepath.Glob(filepath.Join(recs, m.ID, "c*", "chunk.json"))
			var videoEnd, audioEnd, first float64
			for j, cf := range chunks { // in order: c000000, c000001, …
				var c recorder.ChunkInfo
				if b, err := os.ReadFile(cf); err != nil || json.Unmarshal(b, &c) != nil {
					t.Fatalf("%s: %v", cf, err)
				}
				if c.Video != nil {
					if last, ok := lastIVFFrame(t, c.Video.Path); ok {
						videoEnd = max(videoEnd, c.Start+c.Video.Offset+last+1.0/30)
					}
					if j == 0 {
						first = c.Start + c.Video.Offset
					}
				}
				if c.Audio != nil {
					if last, ok := lastOggGranule(t, c.Audio.Path); ok {
						audioEnd = max(audioEnd, c.Start+c.Audio.Offset+last)
					}
				}
			}
			lostV, lostA := sent-videoEnd, sent-audioEnd
			lost := max(lostV, lostA)
			worst = max(worst, lost)
			t.Logf("SIGKILL %.2f s after the first packet (%d chunks): lost %.3f s of video, %.3f s of audio; first keyframe recorded %.2f s after the first packet (%d keyframe requests to the file publisher)",
				sent, len(chunks), lostV, lostA, first, pub.PLIs())
			if lost > 0.5 || min(lostV, lostA) < -0.1 {
				t.Errorf("lost %.3f s of video and %.3f s of audio at the kill: want at most 0.5 s (and nothing recorded after the kill)", lostV, lostA)
			}
			if first > 1.2 {
				t.Errorf("the recording starts %.2f s after the first packet: want within one GOP (1 s)", first)
			}
		})
	}
	t.Logf("worst loss at a SIGKILL: %.3f s", worst)
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(url); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("%s not ready", url)
}

// lastIVFFrame returns the timestamp (s, 90 kHz time base) of the last whole frame of an IVF file
// a killed process left (the header's frame count is not updated then).
func lastIVFFrame(t *testing.T, path string) (float64, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 32 {
		t.Fatalf("%s: %v", path, err)
	}
	last, ok := 0.0, false
	for off := int(binary.LittleEndian.Uint16(b[6:8])); off+12 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if off+12+n > len(b) {
			break
		}
		last, ok = float64(binary.LittleEndian.Uint64(b[off+4:]))/90000, true
		off += 12 + n
	}
	return last, ok
}

// lastOggGranule returns the granule position (s at 48 kHz: the end of the page's audio) of the
// last whole page of an Ogg Opus file.
func lastOggGranule(t *testing.T, path string) (float64, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	last, ok := 0.0, false
	for off := 0; off+27 <= len(b) && string(b[off:off+4]) == "OggS"; {
		nseg := int(b[off+26])
		if off+27+nseg > len(b) {
			break
		}
		size := 27 + nseg
		for _, s := range b[off+27 : off+27+nseg] {
			size += int(s)
		}
		if off+size > len(b) {
			break
		}
		if g := binary.LittleEndian.Uint64(b[off+6:]); g > 0 {
			last, ok = float64(g)/48000, true
		}
		off += size
	}
	return last, ok
}
