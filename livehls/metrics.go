package livehls

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the server's request counters (added by the packager; the integrator
// registers it): relaycast_llhls_blocking_held, relaycast_llhls_requests_total{kind},
// relaycast_llhls_rejected_total{reason}, relaycast_llhls_streams.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Server }

var (
	descHeld = prometheus.NewDesc("relaycast_llhls_blocking_held",
		"Blocking LL-HLS requests (playlist reloads, preload-hinted parts) waiting now.", nil, nil)
	descRequests = prometheus.NewDesc("relaycast_llhls_requests_total",
		"LL-HLS requests answered 200, by kind (playlist, blocking_playlist, media).", []string{"kind"}, nil)
	descRejected = prometheus.NewDesc("relaycast_llhls_rejected_total",
		"LL-HLS requests refused, by reason (limited=429, timeout=503, bad=400).", []string{"reason"}, nil)
	descStreams = prometheus.NewDesc("relaycast_llhls_streams",
		"Live or lingering LL-HLS streams on this node.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHeld
	ch <- descRequests
	ch <- descRejected
	ch <- descStreams
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(st.BlockingHeld))
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(st.Playlists), "playlist")
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(st.BlockingPlaylists), "blocking_playlist")
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(st.Media), "media")
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(st.Limited), "limited")
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(st.Timeouts), "timeout")
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(st.BadRequests), "bad")
	c.s.mu.Lock()
	n := len(c.s.streams)
	c.s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(n))
}
