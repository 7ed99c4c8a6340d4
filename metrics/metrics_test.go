package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/metrics"
	"github.com/relaycast/relaycast/sfu"
)

type fakeSource sfu.Stats

func (f fakeSource) Stats() sfu.Stats { return sfu.Stats(f) }

func TestExposition(t *testing.T) {
	reg := metrics.NewRegistry(fakeSource{Rooms: 2, Viewers: 7, PacketsOut: 1234, Dropped: 5, LayerSwitches: 3, REMBs: 40,
		Datagrams: 900, SendMessages: 300, GSO: true})
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"relaycast_rooms 2", "relaycast_viewers 7", "relaycast_rtp_packets_sent_total 1234",
		"relaycast_rtp_packets_dropped_total 5", "process_cpu_seconds_total", "go_goroutines",
		"relaycast_forward_latency_seconds_count 0",
		"relaycast_simulcast_layer_switches_total 3", "relaycast_remb_received_total 40",
		"relaycast_udp_datagrams_sent_total 900", "relaycast_udp_messages_sent_total 300", "relaycast_udp_gso_enabled 1",
		`relaycast_forward_latency_seconds_bucket{le="0.003"} 0`, `relaycast_forward_latency_seconds_bucket{le="0.0075"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}
