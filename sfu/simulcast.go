package sfu

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Simulcast: a publisher may send one video track as two or three RID-tagged encodings of
// decreasing resolution ("layers"). Each layer is an upTrack with its own read loop, packet cache
// and writer groups, exactly like a plain track; a viewer's video sits in the writer groups of
// one layer at a time (two during a switch). The simulcast value ties the layers of one track
// together: it ranks them, measures their bitrates, notices layers that stop and come back, and
// knows the viewers (simViews) that choose among them.
type simulcast struct {
	room  *room
	slot  int      // index in room.tracks (the TrackInfo.Index of every layer)
	order []string // the RIDs the offer announced, in its order
	codec codecKind

	mu     sync.Mutex
	layers []*upTrack // ranked, lowest quality first; only layers that arrived
	views  map[*simView]struct{}
	active []*upTrack // the layers that sent recently, lowest first (copy-on-write)
	rates  map[*upTrack]float64
}

// layerStats are the monitor's per-layer counters, updated by the layer's read loop.
type layerStats struct {
	bytes  atomic.Uint64
	lastAt atomic.Int64 // monoNow() of the newest packet
}

const (
	// layerIdle: a layer that sent nothing for this long is treated as stopped.
	layerIdle = time.Second
	// monitorEvery is how often layer rates and activity are measured.
	monitorEvery = 250 * time.Millisecond
)

// rankOf orders the usual RID names, lowest quality first (q/h/f, l/m/h, low/mid/high, 0/1/2);
// unknown names rank by their position in the offer.
func rankOf(rid string, order []string) int {
	switch strings.ToLower(rid) {
	case "q", "l", "lo", "low", "0":
		return 0
	case "m", "mid", "medium", "1":
		return 1
	case "h":
		if containsFold(order, "m") && !containsFold(order, "f") {
			return 2 // l/m/h naming
		}
		return 1
	case "f", "hi", "high", "2":
		return 2
	}
	for i, o := range order {
		if strings.EqualFold(o, rid) {
			return i
		}
	}
	return 0
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// addLayer inserts a newly arrived layer in rank order.
func (s *simulcast) addLayer(u *upTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.rank = rankOf(u.rid, s.order)
	s.layers = append(s.layers, u)
	sort.SliceStable(s.layers, func(i, j int) bool { return s.layers[i].rank < s.layers[j].rank })
}

// highest is the best layer that arrived so far.
func (s *simulcast) highest() *upTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layers[len(s.layers)-1]
}

// activeLayers is the current set of sending layers, lowest first. Do not modify.
func (s *simulcast) activeLayers() []*upTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// highestActive is the best sending layer, nil when none sends.
func (s *simulcast) highestActive() *upTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.active) == 0 {
		return nil
	}
	return s.active[len(s.active)-1]
}

// rate is a layer's measured bitrate (bits/s, including RTP headers).
func (s *simulcast) rate(u *upTrack) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rates[u]
}

// layerName is the viewer-facing name of a layer: high, medium, low by its position among the
// layers the publisher announced (two layers: low and high; one: high).
func (s *simulcast) layerName(u *upTrack) string {
	if u == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ranks := make([]int, 0, 3)
	add := func(r int) {
		if !slices.Contains(ranks, r) {
			ranks = append(ranks, r)
		}
	}
	for _, rid := range s.order {
		add(rankOf(rid, s.order))
	}
	for _, l := range s.layers {
		add(l.rank)
	}
	slices.Sort(ranks)
	return nameForRank(slices.Index(ranks, u.rank), len(ranks))
}

func nameForRank(rank, n int) string {
	switch {
	case rank >= n-1:
		return string(QualityHigh)
	case rank == 0:
		return string(QualityLow)
	default:
		return string(QualityMedium)
	}
}

func (s *simulcast) addView(v *simView) {
	s.mu.Lock()
	s.views[v] = struct{}{}
	s.mu.Unlock()
}

func (s *simulcast) removeView(v *simView) {
	s.mu.Lock()
	delete(s.views, v)
	s.mu.Unlock()
}

// monitor measures the layers' bitrates and notices layers that stop or (re)start; when the set
// of sending layers changes, every viewer of this track chooses again. It runs until the room ends.
func (s *simulcast) monitor() {
	defer s.room.s.wg.Done()
	t := time.NewTicker(monitorEvery)
	defer t.Stop()
	lastBytes := map[*upTrack]uint64{}
	last := monoNow()
	for {
		select {
		case <-s.room.done:
			return
		case <-t.C:
		}
		now := monoNow()
		dt := float64(now-last) / float64(time.Second)
		last = now
		s.mu.Lock()
		var active []*upTrack
		for _, u := range s.layers {
			b := u.stats.bytes.Load()
			r := float64(b-lastBytes[u]) * 8 / dt
			lastBytes[u] = b
			on := false
			if at := u.stats.lastAt.Load(); at != 0 && now-at < int64(layerIdle) {
				active = append(active, u)
				on = true
			}
			// A smoothed rate over about a second, so a keyframe burst does not make it jump; a
			// stopped layer keeps the rate it had, for when it comes back.
			if old, ok := s.rates[u]; ok {
				if !on || r == 0 {
					r = old
				} else {
					r = 0.8*old + 0.2*r
				}
			}
			s.rates[u] = r
		}
		changed := len(active) != len(s.active)
		for i := 0; !changed && i < len(active); i++ {
			changed = active[i] != s.active[i]
		}
		if changed {
			s.active = active
		}
		views := make([]*simView, 0, len(s.views))
		for v := range s.views {
			views = append(views, v)
		}
		s.mu.Unlock()
		for _, v := range views {
			// Besides a change of the sending layers: a viewer with no layer yet, or still
			// waiting for its layer's keyframe, chooses again (and asks again) — one that
			// receives nothing sends no reports that would make it.
			if changed || v.stuck(now) {
				v.evaluate(now)
			}
		}
	}
}

// isKeyframeStart reports whether an RTP payload begins a keyframe (the packet a viewer may
// switch layers at).
func isKeyframeStart(c codecKind, p []byte) bool {
	switch c {
	case codecVP8:
		d, ok := parseVP8(p)
		return ok && d.start && d.hdr < len(p) && p[d.hdr]&0x01 == 0
	case codecH264:
		return h264KeyStart(p)
	case codecVP9:
		// I P L F B E V Z: not inter-predicted (P=0), start of a frame (B=1).
		return len(p) > 0 && p[0]&0x40 == 0 && p[0]&0x08 != 0
	case codecAV1:
		// Aggregation header Z Y W W N - - -: N=1 starts a new coded video sequence.
		return len(p) > 0 && p[0]&0x80 == 0 && p[0]&0x08 != 0
	}
	return false
}

// h264KeyStart: an SPS or IDR slice alone, first in a STAP-A, or the start of an FU-A IDR.
func h264KeyStart(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case 5, 7:
		return true
	case 24: // STAP-A: 2-byte size, then the first NAL unit
		return len(p) > 3 && (p[3]&0x1f == 7 || p[3]&0x1f == 5)
	case 28: // FU-A: start bit and the fragmented unit's type
		return p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false
}

type codecKind uint8

const (
	codecOther codecKind = iota
	codecVP8
	codecVP9
	codecH264
	codecAV1
)

func kindOfCodec(mime string) codecKind {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeVP8):
		return codecVP8
	case strings.ToLower(webrtc.MimeTypeVP9):
		return codecVP9
	case strings.ToLower(webrtc.MimeTypeH264):
		return codecH264
	case strings.ToLower(webrtc.MimeTypeAV1):
		return codecAV1
	}
	return codecOther
}

// vp8Desc locates the fields of a VP8 payload descriptor (RFC 7741) that a layer switch rewrites.
type vp8Desc struct {
	pic   int // offset of the picture ID, -1 when absent
	pic15 bool
	tl0   int // offset of TL0PICIDX, -1 when absent
	hdr   int // offset of the VP8 payload header
	start bool
}

func parseVP8(p []byte) (vp8Desc, bool) {
	d := vp8Desc{pic: -1, tl0: -1}
	if len(p) < 1 {
		return d, false
	}
	d.start = p[0]&0x10 != 0 && p[0]&0x07 == 0
	i := 1
	if p[0]&0x80 != 0 {
		if len(p) < 2 {
			return d, false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I
			if len(p) <= i {
				return d, false
			}
			d.pic = i
			if p[i]&0x80 != 0 {
				d.pic15 = true
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L
			d.tl0 = i
			i++
		}
		if x&0x30 != 0 { // T or K
			i++
		}
	}
	if i > len(p) {
		return d, false
	}
	d.hdr = i
	return d, true
}

func (d vp8Desc) picture(p []byte) uint16 {
	if d.pic15 {
		return uint16(p[d.pic]&0x7f)<<8 | uint16(p[d.pic+1])
	}
	return uint16(p[d.pic] & 0x7f)
}

func (d vp8Desc) setPicture(p []byte, v uint16) {
	if d.pic15 {
		p[d.pic] = 0x80 | byte(v>>8)&0x7f
		p[d.pic+1] = byte(v)
		return
	}
	p[d.pic] = byte(v) & 0x7f
}

func (d vp8Desc) picMask() uint16 {
	if d.pic15 {
		return 0x7fff
	}
	return 0x7f
}
