package livehls

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The playlists (RFC 8216bis §4.4, Apple's LL-HLS): rendered once per change of a variant —
// a new part, a new segment, the end — into bytes every request of that state is answered with.
//
//	#EXT-X-TARGETDURATION    3 × the segment target, rounded up (a segment is cut by then)
//	#EXT-X-SERVER-CONTROL    CAN-BLOCK-RELOAD=YES, PART-HOLD-BACK = 3 part targets,
//	                         HOLD-BACK = 3 target durations, CAN-SKIP-UNTIL = 6 target durations
//	#EXT-X-PART-INF          PART-TARGET (every part is at most that long)
//	#EXT-X-PART              the parts of the last partLines segments and of the open one
//	#EXT-X-PRELOAD-HINT      the next part
//	#EXT-X-RENDITION-REPORT  every other variant's last segment and part
//	#EXT-X-SKIP              in the delta playlist (_HLS_skip=YES): the segments older than
//	                         CAN-SKIP-UNTIL are left out

// partLines is how many complete segments keep their EXT-X-PART lines (the spec asks for the
// parts of at least the last three target durations).
const partLines = 4

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 5, 64) }

func (v *Variant) segURI(msn uint64) string {
	return v.s.id + "-" + strconv.FormatUint(msn, 10) + ".m4s"
}

func (v *Variant) partURI(msn uint64, i int) string {
	return v.s.id + "-" + strconv.FormatUint(msn, 10) + "." + strconv.Itoa(i) + ".m4s"
}

func (v *Variant) initURI(in *initSection) string {
	return v.s.id + "-init" + strconv.Itoa(in.seq) + ".mp4"
}

// lastPart is the newest complete part: (msn, index); ok false before the first one.
func (v *Variant) lastPart() (uint64, int, bool) {
	if o := v.open; o != nil && len(o.parts) > 0 {
		return o.msn, len(o.parts) - 1, true
	}
	if n := len(v.segs); n > 0 {
		s := v.segs[n-1]
		return s.msn, len(s.parts) - 1, true
	}
	return 0, 0, false
}

// render renders the full and the delta playlist (s.mu held).
func (v *Variant) render() {
	v.full = v.renderPlaylist(false)
	v.skip = v.renderPlaylist(true)
}

func (v *Variant) renderPlaylist(delta bool) []byte {
	cfg := v.s.cfg
	td := cfg.targetDuration()
	skipUntil := time.Duration(6*td) * time.Second
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", td)
	fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%s,HOLD-BACK=%d,CAN-SKIP-UNTIL=%d\n",
		secs(3*cfg.PartTarget), 3*td, 6*td)
	fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%s\n", secs(cfg.PartTarget))
	first := v.nextMSN
	if len(v.segs) > 0 {
		first = v.segs[0].msn
	}
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", first)
	fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", v.discSeq)

	all := v.segs
	if v.open != nil && len(v.open.parts) > 0 {
		all = append(all[:len(all):len(all)], v.open)
	}
	// The delta playlist leaves out the segments older than CAN-SKIP-UNTIL from the live edge.
	skipped := 0
	if delta && len(all) > 0 {
		edge := all[len(all)-1].start + all[len(all)-1].dur
		for skipped < len(v.segs) && edge-v.segs[skipped].start > skipUntil {
			skipped++
		}
		if skipped > 0 {
			fmt.Fprintf(&b, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%d\n", skipped)
		}
	}
	var lastInit *initSection
	if skipped > 0 {
		lastInit = v.segs[skipped-1].init
		if v.segs[skipped].init != lastInit {
			lastInit = nil
		}
	}
	for i, s := range all {
		if i < skipped {
			continue
		}
		if s.disc && i > 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.init != lastInit {
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s\"\n", v.initURI(s.init))
			lastInit = s.init
		}
		pdt := v.s.epoch.Add(s.start).UTC()
		b.WriteString("#EXT-X-PROGRAM-DATE-TIME:")
		b.WriteString(pdt.Format("2006-01-02T15:04:05.000Z"))
		b.WriteByte('\n')
		if i >= len(all)-partLines-1 || !s.done {
			for j, p := range s.parts {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%s,URI=\"%s\"", secs(p.dur), v.partURI(s.msn, j))
				if p.independent {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if s.done {
			fmt.Fprintf(&b, "#EXTINF:%s,\n%s\n", secs(s.dur), v.segURI(s.msn))
		}
	}
	if v.s.st.ended {
		b.WriteString("#EXT-X-ENDLIST\n")
		return b.Bytes()
	}
	if v.open != nil {
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s\"\n", v.partURI(v.open.msn, len(v.open.parts)))
	}
	for _, o := range v.s.variants {
		if o == v {
			continue
		}
		if msn, p, ok := o.lastPart(); ok {
			fmt.Fprintf(&b, "#EXT-X-RENDITION-REPORT:URI=\"../%s/index.m3u8\",LAST-MSN=%d,LAST-PART=%d\n", o.p.Name, msn, p)
		}
	}
	return b.Bytes()
}

// renderMultivariant is the room's multivariant playlist: every variant with media, highest
// bandwidth first (s.mu held).
func (s *Stream) renderMultivariant() []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n")
	vs := make([]*Variant, 0, len(s.variants))
	for _, v := range s.variants {
		if v.init != nil && (len(v.segs) > 0 || (v.open != nil && len(v.open.parts) > 0)) {
			vs = append(vs, v)
		}
	}
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && vs[j].p.Bandwidth > vs[j-1].p.Bandwidth; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
	for _, v := range vs {
		bw := v.p.Bandwidth
		if bw <= 0 {
			bw = 2_000_000
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"%s\"", bw, v.init.codecs)
		if v.init.width > 0 && v.init.height > 0 {
			fmt.Fprintf(&b, ",RESOLUTION=%dx%d", v.init.width, v.init.height)
		}
		if f := v.init.fps; f > 0 && !math.IsInf(f, 0) && !math.IsNaN(f) && f < 500 {
			fmt.Fprintf(&b, ",FRAME-RATE=%.3f", f)
		}
		fmt.Fprintf(&b, "\n%s/index.m3u8\n", v.p.Name)
	}
	return b.Bytes()
}

// has reports whether the variant's playlist has the segment msn (whole, part < 0) or its part
// (ready), and whether the request is too far ahead to wait for (bad: answer 400) (s.mu held).
func (v *Variant) has(msn uint64, part int) (ready, bad bool) {
	if v.s.st.ended {
		return true, false
	}
	open := v.nextMSN
	if v.open != nil {
		open = v.open.msn
	}
	switch {
	case msn < open:
		return true, false
	case msn > open+2:
		return false, true
	case msn == open && part >= 0 && v.open != nil:
		if part < len(v.open.parts) {
			return true, false
		}
		// The advance part limit: at most a segment's worth of parts ahead.
		limit := int(v.s.cfg.SegmentTarget/v.s.cfg.PartTarget) * maxSegmentFactor
		return false, part > len(v.open.parts)+limit
	}
	return false, false
}

// findPart is part i of segment msn, if the window has it (s.mu held).
func (v *Variant) findPart(msn uint64, i int) *part {
	s := v.findSegment(msn, true)
	if s == nil || i < 0 || i >= len(s.parts) {
		return nil
	}
	return s.parts[i]
}

// findSegment is segment msn (open too if withOpen) (s.mu held).
func (v *Variant) findSegment(msn uint64, withOpen bool) *segment {
	if o := v.open; withOpen && o != nil && o.msn == msn {
		return o
	}
	if n := len(v.segs); n > 0 && msn >= v.segs[0].msn && msn <= v.segs[n-1].msn {
		return v.segs[msn-v.segs[0].msn]
	}
	return nil
}
