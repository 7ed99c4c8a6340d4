package livehls

import (
	"sort"
	"strconv"
	"time"
)

// partSegments is how many complete segments before the open one keep their EXT-X-PART lines
// (RFC 8216bis: parts SHOULD stay for at least the last three target durations).
const partSegments = 3

// Playlist kinds of the per-variant cache.
const (
	plFull = iota
	plSkip
)

// targetDuration is EXT-X-TARGETDURATION: the longest segment so far (rounded to the nearest
// second, as the spec compares it), at least the segment target rounded up; never decreases.
func (v *Variant) targetDuration() int {
	td := int((v.st.cfg.SegmentTarget + time.Second - 1) / time.Second)
	if m := int((v.maxSegDur + time.Second/2) / time.Second); m > td {
		td = m
	}
	return max(td, 1)
}

// partTarget is PART-TARGET: the configured target, or the longest part when frames are
// sparser than it.
func (v *Variant) partTarget() time.Duration {
	return max(v.st.cfg.PartTarget, v.maxPartDur)
}

// appendSeconds writes d in seconds with 5 decimals; up rounds up (for targets).
func appendSeconds(b []byte, d time.Duration, up bool) []byte {
	const unit = 10 * time.Microsecond
	n := (d + unit/2) / unit
	if up {
		n = (d + unit - 1) / unit
	}
	b = strconv.AppendInt(b, int64(n/100000), 10)
	b = append(b, '.')
	f := int64(n % 100000)
	for div := int64(10000); div > 0; div /= 10 {
		b = append(b, byte('0'+f/div%10))
	}
	return b
}

// renderMedia renders the variant's media playlist; skip renders the delta update.
func (v *Variant) renderMedia(skip bool) []byte {
	s := v.st
	td := v.targetDuration()
	pt := v.partTarget()
	tdd := time.Duration(td) * time.Second
	skipUntil := 6 * tdd

	b := make([]byte, 0, 512+len(v.segs)*96+len(v.parts)*64)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(td), 10)
	b = append(b, "\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="...)
	b = appendSeconds(b, 3*pt, true)
	b = append(b, ",HOLD-BACK="...)
	b = appendSeconds(b, 3*tdd, true)
	b = append(b, ",CAN-SKIP-UNTIL="...)
	b = appendSeconds(b, skipUntil, true)
	b = append(b, "\n#EXT-X-PART-INF:PART-TARGET="...)
	b = appendSeconds(b, pt, true)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	first := uint64(0)
	if len(v.segs) > 0 {
		first = v.segs[0].msn
	}
	b = strconv.AppendUint(b, first, 10)
	b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
	b = strconv.AppendUint(b, v.discSeq, 10)
	b = append(b, '\n')

	start := 0
	if skip {
		start = v.skippable(skipUntil)
		if start > 0 {
			b = append(b, "#EXT-X-SKIP:SKIPPED-SEGMENTS="...)
			b = strconv.AppendInt(b, int64(start), 10)
			b = append(b, '\n')
		}
	}
	// Parts are listed for the open segment and the partSegments complete ones before it.
	partsFrom := len(v.segs) - partSegments
	if n := len(v.segs); n > 0 && !v.segs[n-1].complete {
		partsFrom--
	}
	var prevInit *initSec
	for i := start; i < len(v.segs); i++ {
		sg := v.segs[i]
		if sg.disc {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		if sg.init != prevInit {
			b = append(b, "#EXT-X-MAP:URI=\""...)
			b = append(b, s.id...)
			b = append(b, "/init"...)
			b = strconv.AppendInt(b, int64(sg.init.n), 10)
			b = append(b, ".mp4\"\n"...)
			prevInit = sg.init
		}
		b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
		b = s.epoch.Add(sg.pts).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, '\n')
		if i >= partsFrom {
			for _, p := range sg.parts {
				b = append(b, "#EXT-X-PART:DURATION="...)
				b = appendSeconds(b, p.dur, false)
				b = append(b, ",URI=\""...)
				b = append(b, s.id...)
				b = append(b, "/p"...)
				b = strconv.AppendUint(b, p.seq, 10)
				b = append(b, ".m4s\""...)
				if p.indep {
					b = append(b, ",INDEPENDENT=YES"...)
				}
				b = append(b, '\n')
			}
		}
		if sg.complete {
			b = append(b, "#EXTINF:"...)
			b = appendSeconds(b, sg.dur, false)
			b = append(b, ",\n"...)
			b = append(b, s.id...)
			b = append(b, "/s"...)
			b = strconv.AppendUint(b, sg.msn, 10)
			b = append(b, ".m4s\n"...)
		}
	}
	if !s.ended {
		b = append(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""...)
		b = append(b, s.id...)
		b = append(b, "/p"...)
		b = strconv.AppendUint(b, v.nextPart, 10)
		b = append(b, ".m4s\"\n"...)
	}
	for _, o := range s.variants {
		if o == v {
			continue
		}
		msn, idx, _, ok := o.last()
		if !ok {
			continue
		}
		b = append(b, "#EXT-X-RENDITION-REPORT:URI=\"../"...)
		b = append(b, o.p.Name...)
		b = append(b, "/index.m3u8\",LAST-MSN="...)
		b = strconv.AppendUint(b, msn, 10)
		b = append(b, ",LAST-PART="...)
		b = strconv.AppendInt(b, int64(idx), 10)
		b = append(b, '\n')
	}
	if s.ended {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	return b
}

// skippable is how many leading segments a delta update may skip: those that start more than
// skipUntil before the end of the playlist.
func (v *Variant) skippable(skipUntil time.Duration) int {
	var fromEnd time.Duration
	for i := len(v.segs) - 1; i >= 0; i-- {
		fromEnd += v.segs[i].dur
		if fromEnd > skipUntil {
			return i
		}
	}
	return 0
}

// bandwidth is BANDWIDTH: the declared peak, or the highest segment bit rate seen.
func (v *Variant) bandwidth() int {
	if v.p.Bandwidth > 0 {
		return v.p.Bandwidth
	}
	best := 0
	for _, sg := range v.segs {
		if sg.complete && sg.dur > 0 {
			if bw := int(float64(sg.size*8) / sg.dur.Seconds()); bw > best {
				best = bw
			}
		}
	}
	if best == 0 {
		return 1000000
	}
	return best * 11 / 10
}

// renderMultivariant lists every variant that has media, highest bandwidth first.
func (s *Stream) renderMultivariant() []byte {
	vs := make([]*Variant, 0, len(s.variants))
	for _, v := range s.variants {
		if len(v.segs) > 0 {
			vs = append(vs, v)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].bandwidth() > vs[j].bandwidth() })
	b := make([]byte, 0, 128+len(vs)*160)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	for _, v := range vs {
		b = append(b, "#EXT-X-STREAM-INF:BANDWIDTH="...)
		b = strconv.AppendInt(b, int64(v.bandwidth()), 10)
		w, h := v.p.Width, v.p.Height
		if w == 0 || h == 0 {
			w, h = v.width, v.height
		}
		if w > 0 && h > 0 {
			b = append(b, ",RESOLUTION="...)
			b = strconv.AppendInt(b, int64(w), 10)
			b = append(b, 'x')
			b = strconv.AppendInt(b, int64(h), 10)
		}
		if v.fps > 0 && v.fps < 1000 {
			b = append(b, ",FRAME-RATE="...)
			b = strconv.AppendFloat(b, v.fps, 'f', 3, 64)
		}
		b = append(b, ",CODECS=\""...)
		b = append(b, v.codecs...)
		b = append(b, "\"\n"...)
		b = append(b, v.p.Name...)
		b = append(b, "/index.m3u8\n"...)
	}
	return b
}

// mediaPlaylist returns the cached media playlist, rendering it if the stream changed since
// (s.mu held). Callers write the returned bytes; they are never modified.
func (v *Variant) mediaPlaylist(kind int) *cached {
	c := &v.pl[kind]
	if !c.ok || c.gen != v.st.gen {
		c.body = v.renderMedia(kind == plSkip)
		c.clen = clen(len(c.body))
		c.gen, c.ok = v.st.gen, true
	}
	return c
}

// multivariant returns the cached multivariant playlist (s.mu held).
func (s *Stream) multivariant() *cached {
	c := &s.mv
	if !c.ok || c.gen != s.gen {
		c.body = s.renderMultivariant()
		c.clen = clen(len(c.body))
		c.gen, c.ok = s.gen, true
	}
	return c
}
