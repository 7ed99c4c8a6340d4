package sfu_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// Without --ice-loopback the one wildcard UDP socket still yields host candidates (all on the
// one port), and --public-ip replaces their address. Only SDP is inspected: no traffic leaves
// loopback.
func TestCandidatesOnOnePort(t *testing.T) {
	for _, tc := range []struct {
		name, publicIP string
	}{{"host addresses", ""}, {"public ip", "203.0.113.7"}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sfu.New(sfu.Config{PublicIP: tc.publicIP, ConnectTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			offer, err := pub.PC().CreateOffer(nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			p, answer, err := s.Publish(ctx, sfu.PublishParams{Room: "c", Offer: offer.SDP})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var cands []string
			for _, l := range strings.Split(answer, "\r\n") {
				if strings.HasPrefix(l, "a=candidate:") && strings.Contains(l, " udp ") {
					cands = append(cands, l)
				}
			}
			if len(cands) == 0 {
				t.Fatalf("no UDP candidates in answer:\n%s", answer)
			}
			port := strings.Fields(cands[0])[5]
			for _, c := range cands {
				f := strings.Fields(c)
				if f[5] != port {
					t.Errorf("candidates on several ports: %v", cands)
				}
				if tc.publicIP != "" && f[4] != tc.publicIP {
					t.Errorf("candidate %q does not advertise %s", c, tc.publicIP)
				}
			}
		})
	}
}
