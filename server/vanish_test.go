package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
)

// TestMain doubles as a publisher process for TestPublisherVanishes: with
// RELAYCAST_TEST_WHIP_URL set it publishes there until killed.
func TestMain(m *testing.M) {
	if url := os.Getenv("RELAYCAST_TEST_WHIP_URL"); url != "" {
		os.Exit(runChildPublisher(url, os.Getenv("RELAYCAST_TEST_WHIP_TOKEN")))
	}
	os.Exit(m.Run())
}

func runChildPublisher(url, token string) int {
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Connect(ctx, client.WHIP(nil, url, token, nil)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("publishing")
	time.Sleep(2 * time.Minute) // bounded: the test kills us long before
	return 0
}

// A publisher killed with SIGKILL sends no DELETE and no DTLS close: the ICE timeout must end the
// room, tell the viewers and leave the metrics consistent.
func TestPublisherVanishes(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the ICE timeout (~15 s)")
	}
	s := start(t, nil)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RELAYCAST_TEST_WHIP_URL="+s.url+"/whip/gone", "RELAYCAST_TEST_WHIP_TOKEN="+s.token(t, "gone", auth.GrantPublish))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 10*time.Second, "child publisher live", func() bool { _, ok := s.SFU().Room("gone"); return ok })

	viewerWS, _, err := dialWS(t, s, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Connect(ctxT(t), viewerWS.exchange("watch", "gone", "")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "media", func() bool { return v.Stats().VideoPackets > 10 })

	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	m := viewerWS.next("ended")
	t.Logf("room ended %s after SIGKILL: %q", time.Since(killed).Round(100*time.Millisecond), m.Reason)
	waitFor(t, 5*time.Second, "metrics back to zero", func() bool {
		st := s.SFU().Stats()
		return st.Rooms == 0 && st.Publishers == 0 && st.Viewers == 0
	})
}
