package livehls

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// Variant is one rendition's writer and its window of segments. Its state is under the
// stream's mutex.
type Variant struct {
	s *Stream
	p VariantParams

	disc    bool // the next segment starts a discontinuity
	sps     []byte
	pps     []byte
	init    *initSection // of the open segment
	initSeq int

	pend      *videoAU       // the last access unit, waiting for the next one to know its duration
	partV     []*fmp4.Sample // video samples of the part being filled
	partStart time.Duration  // its first sample's DTS
	partKey   bool           // it starts with an IDR
	audioQ    []aacFrame     // audio not in a part yet
	partSeq   uint32         // moof sequence numbers

	segs    []*segment // complete, oldest first, within the window
	open    *segment   // being written (nil before the first IDR)
	nextMSN uint64     // the open segment's MSN (or the first one's, before media)
	discSeq uint64     // DISCONTINUITY-SEQUENCE of segs[0]
	bytes   int64      // media kept

	// The playlists as served (rendered once per change, playlist.go).
	full, skip []byte
}

type videoAU struct {
	pts, dts time.Duration
	nalus    [][]byte
	key      bool
}

// initSection is one EXT-X-MAP.
type initSection struct {
	seq           int
	data          []byte
	codecs        string // the CODECS attribute
	width, height int
	fps           float64
	audioGen      int
	spsCopy       []byte // the SPS it was made from
}

type segment struct {
	msn   uint64
	start time.Duration // media time of its first sample
	dur   time.Duration
	parts []*part
	disc  bool
	init  *initSection
	size  int
	done  bool
	asked bool // a keyframe was requested for its end (VariantParams.RequestKeyframe)
}

type part struct {
	data        []byte
	dur         time.Duration
	independent bool
}

func newVariant(s *Stream, p VariantParams) *Variant {
	v := &Variant{s: s, p: p, nextMSN: baseMSN(s.cfg.Now())}
	v.render()
	return v
}

// WriteH264 adds one access unit: NAL units without start codes, in decoding order, pts/dts on
// the stream's media timeline. SPS and PPS come in band before an IDR (or were seen before); a
// new SPS with another resolution starts a new segment with a new init section. Until the first
// IDR, access units are dropped.
func (v *Variant) WriteH264(pts, dts time.Duration, nalus [][]byte) error {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.ended {
		return ErrClosed
	}
	key := false
	var sps, pps []byte
	au := make([][]byte, 0, len(nalus))
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch naluType(n) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		case h264.NALUTypeAccessUnitDelimiter:
		case h264.NALUTypeIDR:
			key = true
			au = append(au, n)
		default:
			au = append(au, n)
		}
	}
	if sps != nil && !bytes.Equal(sps, v.sps) {
		var info h264.SPS
		if err := info.Unmarshal(sps); err != nil {
			return fmt.Errorf("%w: SPS: %v", ErrBadInput, err)
		}
		v.sps = append([]byte(nil), sps...)
	}
	if pps != nil && !bytes.Equal(pps, v.pps) {
		v.pps = append([]byte(nil), pps...)
	}
	if len(au) == 0 {
		return nil // parameter sets only
	}
	if v.open == nil && !key {
		return nil // wait for the first IDR
	}
	if key && (v.sps == nil || v.pps == nil) {
		return fmt.Errorf("%w: an IDR before any SPS/PPS", ErrBadInput)
	}
	if pts < 0 || dts < 0 {
		return fmt.Errorf("%w: negative timestamps", ErrBadInput)
	}
	if p := v.pend; p != nil && dts <= p.dts {
		if dts < p.dts-time.Second {
			return fmt.Errorf("%w: DTS %v went back from %v", ErrBadInput, dts, p.dts)
		}
		dts = p.dts + time.Millisecond // a small repair: DTS must increase
		pts = max(pts, dts)
	}
	a := &videoAU{pts: pts, dts: dts, key: key}
	for _, n := range au {
		a.nalus = append(a.nalus, append([]byte(nil), n...))
	}
	return v.push(a)
}

// push takes the next access unit: the pending one gets its duration and joins the part, then
// the new one decides whether a part or a segment ends before it (s.mu held).
func (v *Variant) push(a *videoAU) error {
	cfg := v.s.cfg
	if p := v.pend; p != nil {
		if err := v.addSample(p, a.dts-p.dts); err != nil {
			return err
		}
	}
	frame := time.Duration(0)
	if p := v.pend; p != nil {
		frame = a.dts - p.dts
	}
	v.pend = a
	newInit := a.key && (v.init == nil || !bytes.Equal(v.sps, v.initSPS()) || v.audioChanged())
	target := cfg.SegmentTarget
	if len(v.segs) == 0 {
		// The variant's first segment is shorter: a playlist (which needs a segment) is there
		// sooner after the stream started, e.g. on demand at a viewer's first request (cold.go).
		target = cfg.FirstSegmentTarget()
	}
	if o := v.open; o != nil && !a.key && !o.asked && v.p.RequestKeyframe != nil && a.dts-o.start >= target {
		o.asked = true
		go v.p.RequestKeyframe()
	}
	switch {
	case v.open == nil:
		return v.startSegment(a, newInit)
	case a.key && (a.dts-v.open.start >= target || v.disc || newInit):
		v.closePart(a.dts)
		v.closeSegment()
		return v.startSegment(a, newInit)
	case a.dts-v.open.start >= time.Duration(maxSegmentFactor)*cfg.SegmentTarget-cfg.PartTarget:
		// No keyframe for too long: cut anyway so that TARGETDURATION holds.
		v.closePart(a.dts)
		v.closeSegment()
		return v.startSegment(a, false)
	case len(v.partV) > 0 && a.dts-v.partStart+frame > cfg.PartTarget:
		v.closePart(a.dts)
		v.partStart, v.partKey = a.dts, a.key
	}
	return nil
}

func (v *Variant) initSPS() []byte {
	if v.init == nil {
		return nil
	}
	return v.init.spsCopy
}

func (v *Variant) audioChanged() bool {
	gen := 0
	if v.s.audio != nil {
		gen = v.s.audio.gen
	}
	return v.init != nil && v.init.audioGen != gen
}

// startSegment opens the segment that starts with a (s.mu held).
func (v *Variant) startSegment(a *videoAU, newInit bool) error {
	if newInit || v.init == nil {
		in, err := v.makeInit()
		if err != nil {
			return err
		}
		if v.init != nil {
			v.disc = true // a new init section mid-stream: a new timeline for the decoder
		}
		v.init = in
	}
	v.open = &segment{msn: v.nextMSN, start: a.dts, disc: v.disc && (len(v.segs) > 0 || v.init.seq > 1), init: v.init}
	v.disc = false
	v.partStart, v.partKey = a.dts, a.key
	v.render()
	return nil
}

// addSample puts a, whose duration is now known, into the part being filled.
func (v *Variant) addSample(a *videoAU, dur time.Duration) error {
	smp, err := fmp4.NewSampleH264(int32(ticks(a.pts-a.dts, 90000)), a.nalus)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	smp.Duration = uint32(max(ticks(dur, 90000), 1))
	smp.IsNonSyncSample = !a.key
	if len(v.partV) == 0 {
		v.partStart, v.partKey = a.dts, a.key
	}
	v.partV = append(v.partV, smp)
	return nil
}

// closePart ends the part being filled at media time end: its video samples and the audio
// before end, marshalled once (s.mu held).
func (v *Variant) closePart(end time.Duration) {
	if len(v.partV) == 0 || v.open == nil {
		return
	}
	v.partSeq++
	tracks := []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(ticks(v.partStart, 90000)), Samples: v.partV}}
	if at := v.s.audio; at != nil && v.init.audioGen == at.gen {
		n := 0
		for n < len(v.audioQ) && v.audioQ[n].pts < end {
			n++
		}
		if n > 0 {
			smps := make([]*fmp4.Sample, n)
			for i, f := range v.audioQ[:n] {
				smps[i] = &fmp4.Sample{Duration: 1024, Payload: f.data}
			}
			tracks = append(tracks, &fmp4.PartTrack{ID: 2, BaseTime: uint64(ticks(v.audioQ[0].pts, int64(at.rate))), Samples: smps})
			v.audioQ = append(v.audioQ[:0], v.audioQ[n:]...)
		}
	}
	data, err := marshalPart(&fmp4.Part{SequenceNumber: v.partSeq, Tracks: tracks})
	v.partV = nil
	if err != nil {
		return // cannot happen with the samples built here; the part is skipped
	}
	v.open.parts = append(v.open.parts, &part{data: data, dur: end - v.partStart, independent: v.partKey})
	v.open.dur = end - v.open.start
	v.open.size += len(data)
	v.bytes += int64(len(data))
	v.partStart, v.partKey = end, false
	v.render()
	v.s.broadcast()
}

// closeSegment completes the open segment and trims the window (s.mu held).
func (v *Variant) closeSegment() {
	o := v.open
	if o == nil || len(o.parts) == 0 {
		return
	}
	o.done = true
	v.segs = append(v.segs, o)
	v.open = nil
	v.nextMSN = o.msn + 1
	cfg := v.s.cfg
	newest := o.start + o.dur
	for len(v.segs) > 1 && (newest-(v.segs[0].start+v.segs[0].dur) > cfg.Window || v.bytes > cfg.MaxBytes) {
		old := v.segs[0]
		v.bytes -= int64(old.size)
		v.segs[0] = nil
		v.segs = v.segs[1:]
		if v.segs[0].disc {
			v.discSeq++
		}
	}
}

// pushAudio queues an AAC frame for the next part (s.mu held). A variant waits for its first
// video before it takes audio; a backlog longer than a few parts (no video) is dropped.
func (v *Variant) pushAudio(f aacFrame) {
	if v.open == nil {
		return
	}
	v.audioQ = append(v.audioQ, f)
	if len(v.audioQ) > 1000 {
		v.audioQ = append(v.audioQ[:0], v.audioQ[len(v.audioQ)-500:]...)
	}
}

// restart forgets the variant's media so far (s.mu held): the next IDR begins it again, with
// MSNs going on from where they were.
func (v *Variant) restart() {
	if v.open == nil && len(v.segs) == 0 {
		return
	}
	if v.open != nil {
		v.nextMSN = v.open.msn + 1
	}
	v.segs, v.open, v.pend, v.partV, v.audioQ, v.init = nil, nil, nil, nil, nil, nil
	v.bytes = 0
	v.render()
	v.s.broadcast()
}

// finish closes the last part and segment at the end of the show (s.mu held).
func (v *Variant) finish() {
	if p := v.pend; p != nil && v.open != nil {
		dur := v.s.cfg.PartTarget / 10
		if len(v.partV) > 0 {
			dur = time.Duration(v.partV[len(v.partV)-1].Duration) * time.Second / 90000
		}
		if err := v.addSample(p, dur); err == nil {
			v.closePart(p.dts + dur)
		}
		v.pend = nil
	}
	v.closeSegment()
}

// ticks converts d to a timescale.
func ticks(d time.Duration, scale int64) int64 {
	return int64(d) * scale / int64(time.Second)
}
