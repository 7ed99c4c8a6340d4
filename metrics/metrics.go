// Package metrics exposes relaycast's counters to Prometheus (all names start with relaycast_,
// in base units).
package metrics

import (
	"net/http"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/relaycast/relaycast/sfu"
)

// SFUSource is what the SFU collector reads on each scrape.
type SFUSource interface {
	Stats() sfu.Stats
}

// NewRegistry returns a registry with the Go runtime, process and SFU collectors.
func NewRegistry(src SFUSource) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	// go_gc_heap_live_bytes beside the memstats: the heap the last GC found live (the soak's
	// return-to-baseline measure, docs/RELIABILITY.md "Soak").
	goc := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)}))
	reg.MustRegister(goc, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&sfuCollector{src: src})
	return reg
}

// Handler serves the registry in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

type metric struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	get  func(sfu.Stats) float64
}

func gauge(name, help string, get func(sfu.Stats) float64) metric {
	return metric{prometheus.NewDesc("relaycast_"+name, help, nil, nil), prometheus.GaugeValue, get}
}

func counter(name, help string, get func(sfu.Stats) float64) metric {
	return metric{prometheus.NewDesc("relaycast_"+name, help, nil, nil), prometheus.CounterValue, get}
}

var sfuMetrics = []metric{
	gauge("rooms", "Live rooms.", func(s sfu.Stats) float64 { return float64(s.Rooms) }),
	gauge("publishers", "Connected publishers.", func(s sfu.Stats) float64 { return float64(s.Publishers) }),
	gauge("viewers", "Connected viewers.", func(s sfu.Stats) float64 { return float64(s.Viewers) }),
	gauge("relays", "Rooms this node relays from another node (edge pulls).", func(s sfu.Stats) float64 { return float64(s.Relays) }),
	gauge("edges", "Other nodes pulling this node's rooms (relay subscribers, not viewers).", func(s sfu.Stats) float64 { return float64(s.Edges) }),
	counter("rtp_packets_received_total", "RTP packets received from publishers.", func(s sfu.Stats) float64 { return float64(s.PacketsIn) }),
	counter("rtp_received_bytes_total", "RTP bytes received from publishers.", func(s sfu.Stats) float64 { return float64(s.BytesIn) }),
	counter("rtp_packets_sent_total", "RTP packets sent to viewers.", func(s sfu.Stats) float64 { return float64(s.PacketsOut) }),
	counter("rtp_sent_bytes_total", "RTP bytes sent to viewers.", func(s sfu.Stats) float64 { return float64(s.BytesOut) }),
	counter("nack_packets_total", "Packets viewers reported missing (NACK).", func(s sfu.Stats) float64 { return float64(s.NACKs) }),
	counter("rtcp_receiver_reports_total", "RTCP receiver reports from viewers.", func(s sfu.Stats) float64 { return float64(s.ReceiverReports) }),
	counter("rtp_packets_resent_total", "Packets retransmitted to viewers (answers to NACKs) from the shared cache.", func(s sfu.Stats) float64 { return float64(s.Resent) }),
	counter("pli_received_total", "Keyframe requests (PLI/FIR) received from viewers.", func(s sfu.Stats) float64 { return float64(s.PLIsReceived) }),
	counter("pli_sent_total", "Keyframe requests sent to publishers.", func(s sfu.Stats) float64 { return float64(s.PLIsSent) }),
	counter("sink_packets_dropped_total", "Packets dropped because an in-process sink (the recorder) fell behind.", func(s sfu.Stats) float64 { return float64(s.SinkDropped) }),
	counter("udp_send_dropped_total", "Datagrams dropped because the ICE socket's send queue was full.", func(s sfu.Stats) float64 { return float64(s.SendDropped) }),
	counter("udp_send_waits_total", "Times a writer waited for room in the ICE socket's full send queue (the kernel not keeping up with a burst).", func(s sfu.Stats) float64 { return float64(s.SendWaits) }),
	counter("udp_sendmmsg_calls_total", "sendmmsg system calls (each carries a batch of datagrams).", func(s sfu.Stats) float64 { return float64(s.SendBatches) }),
	counter("udp_datagrams_sent_total", "Datagrams sent through the batching ICE socket (each segment of a GSO message counts).", func(s sfu.Stats) float64 { return float64(s.Datagrams) }),
	counter("udp_messages_sent_total", "Messages sent through the batching ICE socket (sendmmsg entries): one per datagram, or one per UDP GSO message of several datagrams.", func(s sfu.Stats) float64 { return float64(s.SendMessages) }),
	gauge("udp_gso_enabled", "1 when viewers' back-to-back packets are sent as UDP GSO messages (kernel support, not --no-gso).", func(s sfu.Stats) float64 {
		if s.GSO {
			return 1
		}
		return 0
	}),
	counter("udp_gso_refused_total", "UDP GSO messages the kernel refused (sent again datagram by datagram; GSO is then off).", func(s sfu.Stats) float64 { return float64(s.GSORefused) }),
	counter("direct_ingest_publishers_total", "Publishers whose packets the SFU took from the socket and decrypted itself (the direct receive path).", func(s sfu.Stats) float64 { return float64(s.DirectIngest) }),
	counter("ingest_dropped_packets_total", "Publisher packets dropped on the direct receive path because the track's queue was full.", func(s sfu.Stats) float64 { return float64(s.IngestDropped) }),
	counter("ingest_direct_packets_total", "Publisher packets taken from the socket and decrypted on the direct receive path.", func(s sfu.Stats) float64 { return float64(s.IngestPackets) }),
	counter("ingest_pion_packets_total", "Packets of publishers on the direct receive path that reached their tracks through Pion (first packets, ones left to Pion, an ICE pair not yet routed).", func(s sfu.Stats) float64 { return float64(s.IngestMissed) }),
	counter("ingest_refused_packets_total", "Publisher packets the direct receive path could not decrypt and left to Pion.", func(s sfu.Stats) float64 { return float64(s.IngestRefused) }),
	counter("ingest_rtx_packets_total", "RTX retransmissions from publishers unwrapped on the direct receive path.", func(s sfu.Stats) float64 { return float64(s.IngestRTX) }),
	counter("direct_send_viewers_total", "Viewers whose packets the SFU encrypted and sent itself (the direct send path).", func(s sfu.Stats) float64 { return float64(s.DirectSend) }),
	counter("rtp_packets_dropped_total", "Packets dropped because a viewer's queue was full (slow viewer).", func(s sfu.Stats) float64 { return float64(s.Dropped) }),
	counter("simulcast_layer_switches_total", "Simulcast layer switches made for viewers (at keyframes).", func(s sfu.Stats) float64 { return float64(s.LayerSwitches) }),
	counter("remb_received_total", "REMB bandwidth estimates received from viewers of simulcast rooms.", func(s sfu.Stats) float64 { return float64(s.REMBs) }),
}

type sfuCollector struct{ src SFUSource }

var forwardLatencyDesc = prometheus.NewDesc("relaycast_forward_latency_seconds",
	"Time from reading a packet from the publisher to handing it to a viewer's socket (sampled: 1 packet in 16 per viewer).", nil, nil)

func (c *sfuCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range sfuMetrics {
		ch <- m.desc
	}
	ch <- forwardLatencyDesc
}

func (c *sfuCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	for _, m := range sfuMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.get(st))
	}
	h := st.ForwardLatency
	buckets := make(map[float64]uint64, len(sfu.LatencyBuckets))
	var cum uint64
	for i, le := range sfu.LatencyBuckets {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[le.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(forwardLatencyDesc, h.Count, h.Sum.Seconds(), buckets)
}
