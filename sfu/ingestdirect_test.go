package sfu_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// rtcpCounts counts the SRTCP the SFU sends a publisher by the first packet of each compound
// (its header is in the clear): TWCC feedback, generic NACKs, receiver reports.
type rtcpCounts struct{ twcc, nack, rr atomic.Int64 }

func (c *rtcpCounts) see(p []byte) {
	if len(p) < 8 || p[0]&0xc0 != 0x80 {
		return
	}
	switch pt, fmt := p[1], p[0]&0x1f; {
	case pt == 205 && fmt == 15:
		c.twcc.Add(1)
	case pt == 205 && fmt == 1:
		c.nack.Add(1)
	case pt == 201:
		c.rr.Add(1)
	}
}

// A publisher whose path to the SFU loses 5 % of its RTP: on the direct receive path the SFU's
// own NACK generator asks for what is missing, the publisher retransmits, and a viewer misses
// (almost) nothing; the SFU sends the publisher TWCC feedback and receiver reports. Pion's receive
// path (Config.PionIngest) is held to the same.
func TestLossyPublisherRecovered(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	for _, tc := range []struct {
		pion     bool
		coalesce time.Duration
	}{{false, 0}, {true, 0}, {false, time.Millisecond}} {
		pion := tc.pion
		t.Run(fmt.Sprintf("pion-ingest=%v/read-coalesce=%v", pion, tc.coalesce), func(t *testing.T) {
			s, err := sfu.New(sfu.Config{Loopback: true, LiveGrace: 500 * time.Millisecond, PionIngest: pion, ReadCoalesce: tc.coalesce})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			relay := newRelay(t, s.UDPAddrs()[0].(*net.UDPAddr), 0.05, true)
			var fb rtcpCounts
			relay.onDown = fb.see

			pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true, TWCC: true}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pub.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := pub.Connect(ctx, relay.via(func(ctx context.Context, offer string) (string, error) {
				_, a, err := s.Publish(ctx, sfu.PublishParams{Room: "lossy-pub", Offer: offer, Owner: "o"})
				return a, err
			})); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, func() bool { _, ok := s.Room("lossy-pub"); return ok })
			v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, TrackRecovery: true})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
				_, a, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: "lossy-pub", Offer: offer})
				return a, err
			}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for !(v.Stats().VideoPackets > 1500 && relay.dropped.Load() > 50) {
				if time.Now().After(deadline) {
					t.Fatalf("viewer %+v; relay dropped %d passed %d; sfu %+v", v.Stats(), relay.dropped.Load(), relay.passed.Load(), s.Stats())
				}
				time.Sleep(20 * time.Millisecond)
			}
			miss, span := v.Missing(100)
			st := s.Stats()
			rate := float64(relay.dropped.Load()) / float64(relay.dropped.Load()+relay.passed.Load())
			t.Logf("relay dropped %.1f%% of the publisher's RTP; viewer still missing %d of %d; SFU to publisher: %d TWCC, %d NACK, %d RR compounds; direct ingest: %d publishers, %d packets, %d RTX, %d dropped, %d refused",
				100*rate, miss, span, fb.twcc.Load(), fb.nack.Load(), fb.rr.Load(), st.DirectIngest, st.IngestPackets, st.IngestRTX, st.IngestDropped, st.IngestRefused)
			if rate < 0.03 {
				t.Fatalf("relay dropped only %.1f%%", 100*rate)
			}
			if float64(miss) > 0.01*float64(span) {
				t.Errorf("viewer misses %d of %d packets after the publisher's retransmissions", miss, span)
			}
			if fb.twcc.Load() == 0 || fb.nack.Load() == 0 || fb.rr.Load() == 0 {
				t.Errorf("feedback to the publisher: %d TWCC, %d NACK, %d RR compounds; want all > 0", fb.twcc.Load(), fb.nack.Load(), fb.rr.Load())
			}
			if pion {
				if st.DirectIngest != 0 || st.IngestPackets != 0 {
					t.Errorf("PionIngest: direct ingest used (%d publishers, %d packets)", st.DirectIngest, st.IngestPackets)
				}
				return
			}
			if st.DirectIngest != 1 || st.IngestPackets < 1000 {
				t.Errorf("direct ingest: %d publishers, %d packets; want 1 and ≥ 1000", st.DirectIngest, st.IngestPackets)
			}
		})
	}
}
