package hlsfeed

import (
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the feed's metrics: rooms with live HLS (running; on demand also the
// dormant ones, starts and idle stops), running transcoders, their restarts, and their CPU (the exited ones' plus the running ones', from /proc).
func (f *Feed) Collector() prometheus.Collector { return feedCollector{f} }

var (
	descRooms    = prometheus.NewDesc("relaycast_live_hls_rooms", "Rooms with a live HLS output on this node.", nil, nil)
	descTC       = prometheus.NewDesc("relaycast_live_hls_transcoders", "Live HLS transcoders (ffmpeg, one per room at most) running.", nil, nil)
	descRestarts = prometheus.NewDesc("relaycast_live_hls_transcoder_restarts_total", "Live HLS transcoders restarted after they died.", nil, nil)
	descDropped  = prometheus.NewDesc("relaycast_live_hls_transcoder_dropped_total", "Frames and packets not given to a live HLS transcoder whose input queue was full.", nil, nil)
	descDormant  = prometheus.NewDesc("relaycast_live_hls_rooms_dormant", "Live rooms whose on-demand live HLS is not started (no viewer asked for it lately).", nil, nil)
	descStarts   = prometheus.NewDesc("relaycast_live_hls_starts_total", "On-demand live HLS feeds started by a request.", nil, nil)
	descIdle     = prometheus.NewDesc("relaycast_live_hls_idle_stops_total", "On-demand live HLS feeds stopped after --live-hls-idle without a request.", nil, nil)
	descCPU      = prometheus.NewDesc("relaycast_live_hls_transcoder_cpu_seconds_total", "CPU time (user+system) of the live HLS transcoders.", nil, nil)
)

type feedCollector struct{ f *Feed }

func (c feedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRooms, descDormant, descStarts, descIdle, descTC, descRestarts, descDropped, descCPU} {
		ch <- d
	}
}

func (c feedCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.f.Stats()
	cpu := st.ExitedCPUSec
	for _, pid := range c.f.pids() {
		cpu += ProcCPU(pid)
	}
	ch <- prometheus.MustNewConstMetric(descRooms, prometheus.GaugeValue, float64(st.Rooms))
	ch <- prometheus.MustNewConstMetric(descDormant, prometheus.GaugeValue, float64(st.Dormant))
	ch <- prometheus.MustNewConstMetric(descStarts, prometheus.CounterValue, float64(st.Starts))
	ch <- prometheus.MustNewConstMetric(descIdle, prometheus.CounterValue, float64(st.IdleStops))
	ch <- prometheus.MustNewConstMetric(descTC, prometheus.GaugeValue, float64(st.Transcoders))
	ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(st.Restarts))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, cpu)
}

// pids lists the running transcoders' process ids.
func (f *Feed) pids() []int {
	f.mu.Lock()
	sinks := make([]*roomSink, 0, len(f.sinks))
	for s := range f.sinks {
		sinks = append(sinks, s)
	}
	f.mu.Unlock()
	var out []int
	for _, s := range sinks {
		s.mu.Lock()
		tc := s.tc
		s.mu.Unlock()
		if tc != nil {
			if p := tc.pid(); p != 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// ProcCPU is the user+system CPU seconds of a running process, from /proc/<pid>/stat (0 when
// it cannot be read). Clock ticks are taken as 100 per second (Linux's USER_HZ).
func ProcCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After the name: state(0) ppid(1) … utime(11) stime(12).
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return (u + st) / 100
}
