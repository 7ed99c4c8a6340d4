package live

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// stats are the live room's counters on this node (metrics.go's collector reads them).
type stats struct {
	sockets   atomic.Int64 // joined sockets
	events    atomic.Int64 // events handed to sockets
	slow      atomic.Int64 // sockets closed as too slow
	bids      atomic.Int64 // bids answered (accepted or refused)
	accepted  atomic.Int64
	bidsLimit atomic.Int64 // bids refused by the rate limit
}

// Collector exposes the live room's metrics on /metrics.
func (s *Service) Collector() prometheus.Collector { return &collector{s: s} }

type collector struct{ s *Service }

var (
	descSockets = prometheus.NewDesc("relaycast_live_sockets", "WebSockets joined to a live room on this node.", nil, nil)
	descEvents  = prometheus.NewDesc("relaycast_live_events_sent_total", "Room events sent to this node's sockets.", nil, nil)
	descSlow    = prometheus.NewDesc("relaycast_live_slow_closes_total", `Sockets closed as "too slow" (their event subscription overflowed).`, nil, nil)
	descBids    = prometheus.NewDesc("relaycast_live_bids_total", "Bids answered on this node, by result.", []string{"result"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSockets, descEvents, descSlow, descBids} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := &c.s.stats
	ch <- prometheus.MustNewConstMetric(descSockets, prometheus.GaugeValue, float64(st.sockets.Load()))
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st.events.Load()))
	ch <- prometheus.MustNewConstMetric(descSlow, prometheus.CounterValue, float64(st.slow.Load()))
	acc := st.accepted.Load()
	ch <- prometheus.MustNewConstMetric(descBids, prometheus.CounterValue, float64(acc), "accepted")
	ch <- prometheus.MustNewConstMetric(descBids, prometheus.CounterValue, float64(st.bids.Load()-acc), "refused")
	ch <- prometheus.MustNewConstMetric(descBids, prometheus.CounterValue, float64(st.bidsLimit.Load()), "rate_limited")
}
