package sfu

import (
	"sync/atomic"
	"time"
)

// latencyBounds: 1 ms steps up to the 5 ms target, so that a p99 of 3 ms is told from one of 10.
var latencyBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond,
	5 * time.Millisecond, 7500 * time.Microsecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
}

// LatencyBuckets are the upper bounds of the forwarding-latency histogram (packet read from the
// publisher → handed to the viewer's socket).
var LatencyBuckets = latencyBounds[:]

// latencyHist counts sampled forwarding latencies; lock-free, shared by all writers.
type latencyHist struct {
	buckets [len(latencyBounds) + 1]atomic.Uint64 // +Inf last
	sumNs   atomic.Uint64
	count   atomic.Uint64
}

func (h *latencyHist) observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(uint64(d))
	h.count.Add(1)
}

// LatencyHistogram is a snapshot: Counts[i] is the number of samples <= LatencyBuckets[i]
// (not cumulative); the last entry counts the rest.
type LatencyHistogram struct {
	Counts []uint64
	Sum    time.Duration
	Count  uint64
}

func (h *latencyHist) snapshot() LatencyHistogram {
	out := LatencyHistogram{Counts: make([]uint64, len(h.buckets)), Sum: time.Duration(h.sumNs.Load()), Count: h.count.Load()}
	for i := range h.buckets {
		out.Counts[i] = h.buckets[i].Load()
	}
	return out
}

// latencySampleEvery: one forwarded packet in this many is timed (per viewer).
const latencySampleEvery = 16

// monoStart anchors the monotonic clock used to stamp packets on arrival.
var monoStart = time.Now()

func monoNow() int64 { return int64(time.Since(monoStart)) }
