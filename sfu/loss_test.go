package sfu_test

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// lossyRelay sits between one viewer and the SFU on loopback and drops a share of the RTP the
// SFU sends to that viewer. Socket a faces the viewer, b faces the SFU; the SDP on both sides is
// rewritten so each peer sees only the relay.
type lossyRelay struct {
	a, b            *net.UDPConn
	server, viewer  *net.UDPAddr
	mu              sync.Mutex
	loss            float64
	dropped, passed atomic.Int64
	mute            atomic.Bool  // drop everything from the viewer
	up              bool         // drop the client's RTP to the SFU instead (a lossy publisher)
	onDown          func([]byte) // sees every datagram from the SFU to the client (set before traffic)
	wg              sync.WaitGroup
}

func newLossyRelay(t *testing.T, server *net.UDPAddr, loss float64) *lossyRelay {
	return newRelay(t, server, loss, false)
}

// newRelay is newLossyRelay; with up, the RTP the client sends to the SFU is lost instead.
func newRelay(t *testing.T, server *net.UDPAddr, loss float64, up bool) *lossyRelay {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	a, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	r := &lossyRelay{a: a, b: b, server: server, loss: loss, up: up}
	r.wg.Add(2)
	upRng := rand.New(rand.NewSource(2))
	go r.pump(a, func(p []byte) (*net.UDPConn, *net.UDPAddr, bool) {
		r.mu.Lock()
		loss := r.loss
		r.mu.Unlock()
		if r.up && isRTP(p) {
			if upRng.Float64() < loss {
				r.dropped.Add(1)
				return nil, nil, false
			}
			r.passed.Add(1)
		}
		return b, r.server, !r.mute.Load()
	})
	rng := rand.New(rand.NewSource(1))
	go r.pump(b, func(p []byte) (*net.UDPConn, *net.UDPAddr, bool) {
		r.mu.Lock()
		to, loss := r.viewer, r.loss
		r.mu.Unlock()
		if r.up {
			loss = 0
		}
		if r.onDown != nil {
			r.onDown(p)
		}
		if isRTP(p) && rng.Float64() < loss {
			r.dropped.Add(1)
			return nil, nil, false
		}
		if isRTP(p) && !r.up {
			r.passed.Add(1)
		}
		return a, to, to != nil
	})
	t.Cleanup(func() { _ = a.Close(); _ = b.Close(); r.wg.Wait() })
	return r
}

func isRTP(p []byte) bool {
	if len(p) < 12 || p[0]&0xC0 != 0x80 {
		return false
	}
	pt := p[1] & 0x7f
	return pt < 72 || pt > 79 // 200–207 are RTCP
}

func (r *lossyRelay) pump(from *net.UDPConn, route func([]byte) (*net.UDPConn, *net.UDPAddr, bool)) {
	defer r.wg.Done()
	buf := make([]byte, 1600)
	for {
		_ = from.SetReadDeadline(time.Now().Add(30 * time.Second)) // bounded: the test is shorter
		n, src, err := from.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if from == r.a {
			r.mu.Lock()
			r.viewer = src
			r.mu.Unlock()
		}
		if out, to, ok := route(buf[:n]); ok {
			_, _ = out.WriteToUDP(buf[:n], to)
		}
	}
}

var hostCand = regexp.MustCompile(`(a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 )(\d+)( typ host)`)

// through rewrites the viewer's offer and the SFU's answer so that all traffic crosses the relay.
func (r *lossyRelay) through(s *sfu.SFU) client.Exchange {
	return func(ctx context.Context, offer string) (string, error) {
		if m := hostCand.FindStringSubmatch(offer); m != nil {
			r.mu.Lock()
			r.viewer, _ = net.ResolveUDPAddr("udp4", "127.0.0.1:"+m[2])
			r.mu.Unlock()
		}
		offer = keepFirstCandidate(hostCand.ReplaceAllString(offer, fmt.Sprintf("${1}%d${3}", r.b.LocalAddr().(*net.UDPAddr).Port)))

		_, answer, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: "lossy", Offer: offer})
		if err != nil {
			return "", err
		}
		answer = hostCand.ReplaceAllString(answer, fmt.Sprintf("${1}%d${3}", r.a.LocalAddr().(*net.UDPAddr).Port))
		return answer, nil
	}
}

// keepFirstCandidate drops all but the first candidate line of each media section (they are
// all rewritten to the relay anyway).
func keepFirstCandidate(sdp string) string {
	var out []string
	seen := false
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, "m=") {
			seen = false
		}
		if strings.HasPrefix(l, "a=candidate:") {
			if seen {
				continue
			}
			seen = true
		}
		out = append(out, l)
	}
	return strings.Join(out, "\r\n")
}

// With 5 % of one viewer's RTP lost on its path, NACKs answered from the SFU's cache repair
// almost all of it, and a viewer on a clean path next to it loses nothing.
func TestLossyViewerRecoversAndOthersUnaffected(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	s := newSFU(t)
	publish(t, s, "lossy", client.PublisherParams{})
	addr := s.UDPAddrs()[0].(*net.UDPAddr)
	relay := newLossyRelay(t, addr, 0.05)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	lossy, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, TrackRecovery: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lossy.Close()
	if err := lossy.Connect(ctx, relay.through(s)); err != nil {
		t.Fatal(err)
	}
	clean, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, TrackRecovery: true})
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	if err := clean.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: "lossy", Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !(lossy.Stats().VideoPackets > 1500 && relay.dropped.Load() > 50) {
		if time.Now().After(deadline) {
			t.Fatalf("lossy viewer: %+v; clean: %+v; relay dropped %d passed %d; sfu %+v", lossy.Stats(), clean.Stats(), relay.dropped.Load(), relay.passed.Load(), s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The newest 100 packets may still be waiting for their retransmission.
	miss, span := lossy.Missing(100)
	cmiss, cspan := clean.Missing(100)
	rate := float64(relay.dropped.Load()) / float64(relay.dropped.Load()+relay.passed.Load())
	st := s.Stats()
	t.Logf("relay dropped %.1f%% of the lossy viewer's RTP; still missing after NACK: %d of %d (%.2f%%); clean viewer missing %d of %d; SFU resent %d; UDP GSO %v: %d datagrams in %d messages",
		100*rate, miss, span, 100*float64(miss)/float64(span), cmiss, cspan, st.Resent, st.GSO, st.Datagrams, st.SendMessages)
	if rate < 0.03 {
		t.Fatalf("relay dropped only %.1f%%", 100*rate)
	}
	if float64(miss) > 0.01*float64(span) {
		t.Errorf("lossy viewer still misses %d of %d packets after NACK recovery", miss, span)
	}
	if cmiss != 0 {
		t.Errorf("clean viewer missed %d packets", cmiss)
	}
}
