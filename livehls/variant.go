package livehls

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// maxGap is the longest media gap a sample's duration absorbs; a longer one (a publisher that
// stalled or reconnected) gives the sample the previous sample's duration instead.
const maxGap = time.Second

// defaultFrameDur is a sample's duration when nothing better is known.
const defaultFrameDur = time.Second / 30

// Variant is one rendition's writer.
type Variant struct {
	st *Stream
	p  VariantParams

	// codec parameters (from the bitstream)
	sps, pps      []byte
	paramsChanged bool // a new SPS/PPS waits for the next IDR
	width, height int
	fps           float64
	codecs        string // CODECS of the multivariant playlist

	started     bool // the first IDR was packaged
	needIDR     bool // drop until an IDR (after End, before a reopened stream's first keyframe)
	reinit      bool // the audio changed: new init section at the next IDR
	discPending bool // Discontinuity: the next segment starts with EXT-X-DISCONTINUITY
	initN       int
	buildInit   *initSec // init of the segment being built

	// the part being built: samples in decoding order, the last one's duration unknown yet
	cur          []vsample
	curDur       time.Duration // sum of the known sample durations of cur
	curStartsSeg bool
	curDisc      bool
	segDur       time.Duration // the segment being built, so far
	kfAsked      time.Duration // segDur when RequestKeyframe was last called (-1: not in this segment)
	lastDTS      time.Duration
	lastDur      time.Duration
	sealed       []*sealedPart // cut by video, waiting for their audio
	aCursor      time.Duration // audio muxed up to here

	// published media
	segs       []*segment
	msn        uint64 // MSN of the next segment
	discSeq    uint64 // EXT-X-DISCONTINUITY-SEQUENCE
	parts      []*part
	firstPart  uint64 // seq of parts[0]
	nextPart   uint64 // seq of the next part (the preload hint)
	maxPartDur time.Duration
	maxSegDur  time.Duration
	bytes      int64

	pl [2]cached // rendered media playlist: full, delta (skip)
}

type vsample struct {
	pts, dts time.Duration
	dur      time.Duration
	sync     bool
	payload  []byte // AVCC
}

type sealedPart struct {
	samples   []vsample
	start     time.Duration // dts of the first sample
	dur       time.Duration
	startsSeg bool
	disc      bool
	endsSeg   bool
	init      *initSec
}

type segment struct {
	msn      uint64
	disc     bool
	init     *initSec
	pts      time.Duration // first PTS
	dur      time.Duration
	parts    []*part
	complete bool
	size     int64
	clen     []string
}

type part struct {
	seq   uint64
	dur   time.Duration
	indep bool
	data  []byte
	clen  []string
}

type initSec struct {
	n        int
	audioGen int // 0: no audio track
	data     []byte
	clen     []string
}

// WriteH264 adds one access unit: NAL units without start codes, in decoding order, pts/dts on
// the stream's media timeline. SPS and PPS come in band before an IDR (or were seen before); a
// new SPS with another resolution starts a new segment with a new init section. Until the first
// IDR, access units are dropped.
func (v *Variant) WriteH264(pts, dts time.Duration, nalus [][]byte) error {
	if len(nalus) == 0 {
		return fmt.Errorf("%w: empty access unit", ErrBadInput)
	}
	if dts < 0 || pts < dts {
		return fmt.Errorf("%w: pts %v dts %v", ErrBadInput, pts, dts)
	}
	s := v.st
	askKeyframe := false
	defer func() { // after the unlock below
		if askKeyframe && v.p.RequestKeyframe != nil {
			v.p.RequestKeyframe()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return ErrClosed
	}
	idr := false
	frame := make([][]byte, 0, len(nalus))
	for _, n := range nalus {
		if len(n) == 0 {
			return fmt.Errorf("%w: empty NAL unit", ErrBadInput)
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			if !bytes.Equal(n, v.sps) {
				var sps h264.SPS
				if err := sps.Unmarshal(n); err != nil {
					return fmt.Errorf("%w: SPS: %v", ErrBadInput, err)
				}
				v.sps = append([]byte(nil), n...)
				v.paramsChanged = true
				v.width, v.height, v.fps = sps.Width(), sps.Height(), sps.FPS()
			}
		case h264.NALUTypePPS:
			if !bytes.Equal(n, v.pps) {
				v.pps = append([]byte(nil), n...)
				v.paramsChanged = true
			}
		case h264.NALUTypeAccessUnitDelimiter:
		case h264.NALUTypeIDR:
			idr = true
			frame = append(frame, n)
		default:
			frame = append(frame, n)
		}
	}
	if len(frame) == 0 {
		return nil // parameter sets only
	}
	if !idr && (!v.started || v.needIDR || v.discPending) {
		return nil
	}
	if idr && (v.sps == nil || v.pps == nil) {
		return fmt.Errorf("%w: IDR without SPS/PPS", ErrBadInput)
	}
	if v.started && !v.needIDR && dts <= v.lastDTS {
		if v.lastDTS-dts > maxGap {
			return fmt.Errorf("%w: dts went back %v", ErrBadInput, v.lastDTS-dts)
		}
		shift := v.lastDTS + time.Millisecond - dts
		dts += shift
		pts += shift
	}
	payload, err := h264.AVCC(frame).Marshal()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}

	// The previous sample now has its duration.
	if n := len(v.cur); n > 0 {
		d := dts - v.cur[n-1].dts
		if d <= 0 || d > maxGap {
			d = v.lastDur
		}
		v.cur[n-1].dur = d
		v.lastDur = d
		v.curDur += d
		v.segDur += d
	}
	newParams := v.paramsChanged || v.reinit
	newSeg := idr && (!v.started || v.needIDR || v.discPending || newParams || v.segDur >= s.cfg.SegmentTarget-time.Millisecond)
	if len(v.cur) > 0 {
		switch {
		case newSeg:
			v.seal(true)
		case v.curDur+v.lastDur > s.cfg.PartTarget:
			v.seal(false)
		}
	}
	if newSeg {
		disc := v.started && (v.discPending || newParams || v.needIDR)
		if !v.started || newParams || v.discPending || v.needIDR || v.buildInit == nil {
			in, err := v.makeInit()
			if err != nil {
				return err
			}
			v.buildInit = in
		}
		if !v.started || v.reinit || v.needIDR {
			v.aCursor = pts
		}
		v.curStartsSeg, v.curDisc = true, disc
		v.started, v.needIDR, v.discPending, v.reinit, v.paramsChanged = true, false, false, false, false
		v.segDur, v.kfAsked = 0, -1
	}
	if !idr && v.started {
		due := s.cfg.SegmentTarget - s.cfg.PartTarget
		if v.kfAsked >= 0 {
			due = v.kfAsked + s.cfg.SegmentTarget
		}
		if v.segDur >= due {
			v.kfAsked, askKeyframe = v.segDur, true
		}
	}
	if v.lastDur == 0 {
		v.lastDur = defaultFrameDur
	}
	v.cur = append(v.cur, vsample{pts: pts, dts: dts, sync: idr, payload: payload})
	v.lastDTS = dts
	if v.flush(false) {
		s.bumpLocked()
	}
	return nil
}

// seal closes the part being built; it is published once its audio is in (flush).
func (v *Variant) seal(endsSeg bool) {
	sp := &sealedPart{samples: v.cur, start: v.cur[0].dts, dur: v.curDur, startsSeg: v.curStartsSeg,
		disc: v.curDisc, endsSeg: endsSeg, init: v.buildInit}
	v.sealed = append(v.sealed, sp)
	v.cur, v.curDur, v.curStartsSeg, v.curDisc = nil, 0, false, false
}

// flush publishes the sealed parts whose audio has arrived, or that waited for it longer than a
// part target (audio lags, or stopped). It reports whether anything was published.
func (v *Variant) flush(force bool) bool {
	s := v.st
	changed := false
	for len(v.sealed) > 0 {
		sp := v.sealed[0]
		end := sp.start + sp.dur
		if !force && sp.init.audioGen != 0 && s.audioEnd < end && v.lastDTS-end < s.cfg.PartTarget {
			break
		}
		if err := v.publish(sp); err != nil {
			s.cfg.logger().Warn("livehls: part dropped", "variant", v.p.Name, "err", err)
		}
		v.sealed[0] = nil
		v.sealed = v.sealed[1:]
		changed = true
	}
	if len(v.sealed) == 0 {
		v.sealed = nil
	}
	return changed
}

// finish closes what is being built (End).
func (v *Variant) finish() {
	if n := len(v.cur); n > 0 {
		v.cur[n-1].dur = v.lastDur
		v.curDur += v.lastDur
		v.seal(true)
	} else if n := len(v.sealed); n > 0 {
		v.sealed[n-1].endsSeg = true
	}
	v.flush(true)
	if n := len(v.segs); n > 0 && !v.segs[n-1].complete {
		v.completeSeg(v.segs[n-1])
	}
	v.needIDR = v.started
}

func (v *Variant) publish(sp *sealedPart) error {
	s := v.st
	if sp.startsSeg || len(v.segs) == 0 || v.segs[len(v.segs)-1].complete {
		if n := len(v.segs); n > 0 && !v.segs[n-1].complete {
			v.completeSeg(v.segs[n-1])
		}
		v.segs = append(v.segs, &segment{msn: v.msn, disc: sp.disc && len(v.segs) > 0, init: sp.init, pts: sp.samples[0].pts})
		v.msn++
	}
	seg := v.segs[len(v.segs)-1]
	end := sp.start + sp.dur
	var audio []aframe
	if a := s.audio; a != nil && sp.init.audioGen == a.gen {
		audio = s.takeAudio(v.aCursor, end, a.gen)
		if n := len(audio); n > 0 {
			v.aCursor = audio[n-1].pts + s.audioFrameDur()
		}
	} else {
		v.aCursor = end
	}
	data, err := marshalPart(uint32(v.nextPart+1), sp, audio, s.audioRate())
	if err != nil {
		return err
	}
	p := &part{seq: v.nextPart, dur: sp.dur, indep: sp.samples[0].sync, data: data, clen: clen(len(data))}
	v.nextPart++
	if len(v.parts) == 0 {
		v.firstPart = p.seq
	}
	v.parts = append(v.parts, p)
	seg.parts = append(seg.parts, p)
	seg.dur += p.dur
	seg.size += int64(len(data))
	v.bytes += int64(len(data))
	if p.dur > v.maxPartDur {
		v.maxPartDur = p.dur
	}
	if sp.endsSeg {
		v.completeSeg(seg)
	}
	s.trimAudioLocked()
	return nil
}

func (v *Variant) completeSeg(seg *segment) {
	seg.complete = true
	seg.clen = clen(int(seg.size))
	if seg.dur > v.maxSegDur {
		v.maxSegDur = seg.dur
	}
	v.trim()
}

// trim drops the oldest segments beyond the window or the memory cap (the stream's MaxBytes
// shared by its variants).
func (v *Variant) trim() {
	cfg := v.st.cfg
	maxBytes := cfg.MaxBytes / int64(max(1, len(v.st.variants)))
	var total time.Duration
	for _, sg := range v.segs {
		total += sg.dur
	}
	for len(v.segs) > 1 && v.segs[0].complete && (total-v.segs[0].dur >= cfg.Window || v.bytes > maxBytes) {
		old := v.segs[0]
		total -= old.dur
		v.bytes -= old.size
		if old.disc {
			v.discSeq++
		}
		n := len(old.parts)
		clear(v.parts[:n])
		v.parts = append(v.parts[:0], v.parts[n:]...)
		v.firstPart += uint64(n)
		v.segs[0] = nil
		v.segs = append(v.segs[:0], v.segs[1:]...)
	}
}

func (v *Variant) makeInit() (*initSec, error) {
	s := v.st
	gen := 0
	if s.audio != nil {
		gen = s.audio.gen
	}
	data, err := marshalInit(v.sps, v.pps, s.audio)
	if err != nil {
		return nil, fmt.Errorf("%w: init section: %v", ErrBadInput, err)
	}
	v.initN++
	v.codecs = codecsString(v.sps, s.audio)
	return &initSec{n: v.initN, audioGen: gen, data: data, clen: clen(len(data))}, nil
}

// nextMSN is the MSN the variant's next segment gets.
func (v *Variant) nextMSN() uint64 { return v.msn }

// last returns the MSN and part index of the newest part, ok false before any.
func (v *Variant) last() (msn uint64, partIdx int, complete, ok bool) {
	if len(v.segs) == 0 {
		return 0, 0, false, false
	}
	sg := v.segs[len(v.segs)-1]
	return sg.msn, len(sg.parts) - 1, sg.complete, true
}

// partBySeq finds a published part.
func (v *Variant) partBySeq(seq uint64) *part {
	if seq < v.firstPart || seq-v.firstPart >= uint64(len(v.parts)) {
		return nil
	}
	return v.parts[seq-v.firstPart]
}

func (v *Variant) segByMSN(msn uint64) *segment {
	if len(v.segs) == 0 || msn < v.segs[0].msn {
		return nil
	}
	i := msn - v.segs[0].msn
	if i >= uint64(len(v.segs)) {
		return nil
	}
	return v.segs[i]
}

func (v *Variant) initByN(n int) *initSec {
	for _, sg := range v.segs {
		if sg.init.n == n {
			return sg.init
		}
	}
	return nil
}
