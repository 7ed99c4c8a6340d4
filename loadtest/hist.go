package loadtest

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// hist is a lock-free log-linear histogram of durations (microsecond resolution, ~1.6 % relative
// error, 0 .. ~2^40 µs). Record is safe from many goroutines; snapshots give interval percentiles.
type hist struct {
	counts [histBuckets]atomic.Int64
}

const (
	histSub     = 64 // sub-buckets per power of two
	histShift   = 6  // log2(histSub)
	histBuckets = histSub * 36
)

func histIndex(us int64) int {
	if us < 0 {
		us = 0
	}
	v := uint64(us)
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histShift - 1 // v>>e is in [64,128)
	i := (e+1)*histSub + int(v>>e) - histSub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histValue is the middle of bucket i in µs.
func histValue(i int) float64 {
	if i < histSub {
		return float64(i)
	}
	e := i/histSub - 1
	lo := float64((uint64(i%histSub) + histSub) << e)
	return lo + float64(uint64(1)<<e)/2
}

func (h *hist) Record(d time.Duration) { h.counts[histIndex(d.Microseconds())].Add(1) }

// snapshot copies the counters.
func (h *hist) snapshot() histSnap {
	s := make(histSnap, histBuckets)
	for i := range h.counts {
		s[i] = h.counts[i].Load()
	}
	return s
}

// histSnap is a copy of a hist's counters; sub gives an interval.
type histSnap []int64

func (s histSnap) sub(prev histSnap) histSnap {
	out := make(histSnap, len(s))
	for i := range s {
		out[i] = s[i]
		if prev != nil {
			out[i] -= prev[i]
		}
	}
	return out
}

// dist summarises a snapshot in milliseconds.
func (s histSnap) dist() Dist {
	var n int64
	var sum float64
	minI, maxI := -1, -1
	for i, c := range s {
		if c > 0 {
			if minI < 0 {
				minI = i
			}
			maxI = i
			n += c
			sum += float64(c) * histValue(i)
		}
	}
	if n == 0 {
		return Dist{}
	}
	q := func(p float64) float64 {
		want := int64(math.Ceil(p * float64(n)))
		if want < 1 {
			want = 1
		}
		var acc int64
		for i, c := range s {
			acc += c
			if acc >= want {
				return histValue(i) / 1000
			}
		}
		return histValue(maxI) / 1000
	}
	return Dist{
		Count: n, Mean: round3(sum / float64(n) / 1000),
		Min: round3(histValue(minI) / 1000), P50: round3(q(0.50)), P90: round3(q(0.90)),
		P95: round3(q(0.95)), P99: round3(q(0.99)), Max: round3(histValue(maxI) / 1000),
	}
}

// distOf summarises plain millisecond values (small sets: per-viewer figures).
func distOf(ms []float64) Dist {
	var h hist
	for _, v := range ms {
		h.Record(time.Duration(v * float64(time.Millisecond)))
	}
	return h.snapshot().dist()
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
