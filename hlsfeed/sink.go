package hlsfeed

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/relaycast/relaycast/livehls"
	"github.com/relaycast/relaycast/sfu"
)

const (
	videoMaxLate  = 128                    // packets the jitter buffer waits for a missing one
	videoMaxDelay = 200 * time.Millisecond // and at most this long (a NACK's resend comes sooner)
	// keyLead is how long before the segment target a keyframe is asked for (the publisher's
	// round trip and encoder), so that segments come out close to the target.
	keyLead = 300 * time.Millisecond
	// firstKeyAsk is how often a keyframe is asked for while video waits for one.
	firstKeyAsk = 250 * time.Millisecond
	// lossKeyAsk is how often after a loss.
	lossKeyAsk = time.Second
)

// roomSink is one room session's sfu.Sink (sfu.AgedSink): WriteRTP and Close come from the
// room's sink goroutine, Close and detach also from the feed.
type roomSink struct {
	f    *Feed
	room sfu.LiveRoom
	name string
	ss   *streamState
	log  *slog.Logger

	mu         sync.Mutex
	closed     bool
	superseded bool // a newer session of the room owns the stream
	started    bool
	hasVideo   bool // the room has a video track the feed takes
	hasAudio   bool // … and an Opus track
	tracks     map[int]*track
	video      *track
	audio      *track
	tc         *transcoder
	src        Variant // the copied H.264 rendition
	keyAsked   time.Time
	lastKey    time.Duration
	// layers are the H.264 simulcast layers other than the best, by SSRC (layers.go): each is
	// copied to a rendition of its own, and no ladder is transcoded. Nil without.
	layers map[uint32]*layerOut
	floor  time.Duration // the stream's latest media time when this session began
}

// track is one incoming track on the media timeline.
type track struct {
	info   sfu.TrackInfo
	ignore bool
	clock  int64
	// media time of the first packet (its arrival) and the RTP timestamps since, unwrapped
	anchor    time.Duration
	anchorRTP uint32
	last32    uint32
	unwrapped int64
	popped    bool
	last      time.Duration // media time of the last frame/packet written

	// video
	codec   videoCodec
	sb      *samplebuilder.SampleBuilder
	params  h264Params
	started bool // a keyframe was written
	broken  bool // frames were lost: wait for a keyframe
	w, h    int
	// the size the last key frame's header gave (0 when it does not carry one)
	keyW, keyH int
}

// media returns the media time of RTP timestamp ts (unwrapped against the previous one).
func (t *track) media(ts uint32) time.Duration {
	if !t.popped {
		t.unwrapped, t.popped = int64(int32(ts-t.anchorRTP)), true
	} else {
		t.unwrapped += int64(int32(ts - t.last32))
	}
	t.last32 = ts
	return t.anchor + time.Duration(t.unwrapped*int64(time.Second)/t.clock)
}

// WriteRTP implements sfu.Sink.
func (s *roomSink) WriteRTP(info sfu.TrackInfo, pkt *rtp.Packet) error {
	return s.WriteAgedRTP(info, pkt, 0)
}

// WriteAgedRTP implements sfu.AgedSink: pkt arrived age ago (replayed from the SFU's cache at
// attach), which anchors its track's timeline at its arrival.
func (s *roomSink) WriteAgedRTP(info sfu.TrackInfo, pkt *rtp.Packet, age time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.superseded {
		return nil
	}
	if !s.started {
		s.start()
	}
	t := s.tracks[info.Index]
	if t == nil {
		t = s.newTrack(info, pkt, s.f.p.Now().Add(-age))
	}
	if t.ignore {
		return nil
	}
	if t == s.video {
		t.sb.Push(pkt.Clone())
		for smp := t.sb.Pop(); smp != nil; smp = t.sb.Pop() {
			s.videoSample(t, smp)
		}
		return nil
	}
	if len(pkt.Payload) == 0 || (t.popped && int32(pkt.Timestamp-t.last32) <= 0) {
		return nil // repeated or late audio: dropped (Opus conceals it)
	}
	pts := t.media(pkt.Timestamp)
	s.ss.bump(pts)
	if s.tc == nil && !s.hasVideo {
		s.ensure(0, 0)
	}
	if s.tc != nil {
		s.tc.writeAudio(pts, pkt.Payload)
	}
	return nil
}

// start looks at the room's tracks: what the transcoder will take.
func (s *roomSink) start() {
	s.started = true
	for _, ti := range s.room.Tracks() {
		if _, ok := videoCodecFor(ti.Codec.MimeType); ok && ti.Kind == webrtc.RTPCodecTypeVideo {
			s.hasVideo = true
		}
		if ti.Kind == webrtc.RTPCodecTypeAudio && strings.EqualFold(ti.Codec.MimeType, webrtc.MimeTypeOpus) {
			s.hasAudio = true
		}
	}
	if s.hasAudio {
		s.declareAudio()
	}
}

// declareAudio tells the stream of the AAC ffmpeg will make before any media, so the first
// segments wait for it instead of starting without audio (a later SetAudio would start a new
// init section with a discontinuity).
func (s *roomSink) declareAudio() {
	if err := s.ss.setAudio(aacParams()); err != nil {
		s.log.Warn("live HLS: audio not declared", "err", err)
	}
}

func (s *roomSink) newTrack(info sfu.TrackInfo, pkt *rtp.Packet, arrival time.Time) *track {
	t := &track{info: info, anchor: s.anchorAt(arrival), anchorRTP: pkt.Timestamp}
	vc, isVideo := videoCodecFor(info.Codec.MimeType)
	switch {
	case info.Kind == webrtc.RTPCodecTypeVideo && isVideo && s.video == nil:
		t.clock, t.codec = 90000, vc
		t.sb = samplebuilder.New(videoMaxLate, vc.depack(), 90000, samplebuilder.WithMaxTimeDelay(videoMaxDelay))
		s.video = t
		if !s.hasVideo { // a video track the room did not list at the start
			s.hasVideo = true
			s.restartSpec()
		}
	case info.Kind == webrtc.RTPCodecTypeAudio && strings.EqualFold(info.Codec.MimeType, webrtc.MimeTypeOpus) && s.audio == nil:
		t.clock = 48000
		s.audio = t
		if !s.hasAudio {
			s.hasAudio = true
			s.declareAudio()
			s.restartSpec()
		}
	default:
		s.log.Warn("track not in live HLS", "kind", info.Kind.String(), "codec", info.Codec.MimeType)
		t.ignore = true
	}
	s.tracks[info.Index] = t
	return t
}

// anchorAt is the media time of a track's first packet, which arrived at arrival: on the
// stream's timeline, and after whatever an earlier session of the room wrote (a publisher back
// within the linger continues forward in time).
func (s *roomSink) anchorAt(arrival time.Time) time.Duration {
	anchor := arrival.Sub(s.ss.st.Epoch())
	if hi := s.ss.latest(); anchor <= hi {
		anchor = hi + 20*time.Millisecond
	}
	return anchor
}

// restartSpec makes the next keyframe (or audio packet) rebuild the transcoder: its inputs changed.
func (s *roomSink) restartSpec() {
	if s.tc != nil && s.video != nil && s.video.started {
		s.ensure(s.video.w, s.video.h)
	}
}

// askKey asks the publisher for a keyframe unless the sink did less than every ago.
func (s *roomSink) askKey(every time.Duration) {
	if now := time.Now(); now.Sub(s.keyAsked) >= every {
		s.keyAsked = now
		s.room.RequestKeyframe()
	}
}

func (s *roomSink) videoSample(t *track, smp *media.Sample) {
	pts, nalus, key, ok := t.frame(smp, s.askKey)
	if !ok {
		return
	}
	w, h := t.w, t.h
	if t.codec.copy {
		w, h = t.params.w, t.params.h
	} else if key && t.keyW > 0 {
		w, h = t.keyW, t.keyH
	}
	s.ss.bump(pts)
	if key {
		s.lastKey = pts
		t.w, t.h = w, h
		s.ensure(w, h)
	}
	if t.codec.copy {
		s.writeCopy(pts, nalus, key, w, h)
		return
	}
	if s.tc != nil && !s.tc.writeVideo(pts, smp.Data, key) {
		s.askKey(firstKeyAsk)
	}
}

// frame puts a video sample on the track's timeline: its media time, its access unit (H.264:
// the NAL units to write) and whether it is a keyframe. ok is false for a frame to drop: the
// rest of a reordered one, or one after a loss or before the first keyframe (ask is called
// for a keyframe, at most every given interval).
func (t *track) frame(smp *media.Sample, ask func(every time.Duration)) (pts time.Duration, nalus [][]byte, key, ok bool) {
	if t.popped && int32(smp.PacketTimestamp-t.last32) <= 0 {
		return 0, nil, false, false // the rest of a reordered frame handed out again
	}
	pts = t.media(smp.PacketTimestamp)
	if smp.PrevDroppedPackets > 0 && t.started {
		t.broken = true // what follows references what was lost: wait for a keyframe
		ask(lossKeyAsk)
	}
	if t.codec.copy {
		nalus, key, _ = t.params.prepare(splitAnnexB(smp.Data))
	} else {
		key, t.keyW, t.keyH = t.codec.key(smp.Data)
	}
	switch {
	case key:
		t.broken = false
	case t.broken || !t.started:
		ask(firstKeyAsk)
		return pts, nil, false, false
	}
	t.started, t.last = true, pts
	return pts, nalus, key, true
}

// writeCopy writes an H.264 access unit to the top rendition as it came, to the ladder's
// ffmpeg, and asks for the next keyframe on the segment grid.
func (s *roomSink) writeCopy(pts time.Duration, nalus [][]byte, key bool, w, h int) {
	if s.src == nil {
		// The packager also asks for a keyframe when a segment is due (the SFU throttles the
		// two requests into one PLI), of whichever session of the room is current.
		v, err := s.ss.variant(livehls.VariantParams{Name: "src", Bandwidth: bitrateFor(h)*12/10 + audioBitrate, Width: w, Height: h,
			RequestKeyframe: s.ss.ownerKeyframe})
		if err != nil {
			s.log.Warn("live HLS: no top rendition", "err", err)
			return
		}
		s.src = v
	}
	if err := s.src.WriteH264(pts, pts, nalus); err != nil {
		s.log.Debug("live HLS write", "err", err)
	}
	if s.tc != nil && s.tc.spec.fourcc != "" && !s.tc.writeVideo(pts, annexB(nalus), key) {
		s.askKey(firstKeyAsk)
	}
	if seg := s.f.p.Stream.SegmentTarget; pts-s.lastKey >= seg-keyLead {
		s.askKey(seg / 2)
	}
}

// ensure makes the room's transcoder fit what the sink now has (video of w×h, audio): it is
// started, or restarted with a discontinuity when that changed (inputs, source size).
func (s *roomSink) ensure(w, h int) {
	sp := spec{audio: s.hasAudio}
	if v := s.video; v != nil {
		rungs := rungsFor(s.f.p.Ladder, h)
		if v.codec.copy && s.layers != nil {
			rungs = nil // the simulcast layers are the ladder, copied
		}
		var outs []output
		if !v.codec.copy {
			outs = append(outs, output{name: "src", bitrate: bitrateFor(h)})
		}
		for _, r := range rungs {
			outs = append(outs, output{name: rungName(r), height: r, bitrate: bitrateFor(r)})
		}
		if len(outs) > 0 {
			sp.fourcc, sp.w, sp.h, sp.outs = v.codec.fourcc, w, h, outs
		}
	}
	if s.tc != nil && (s.tc.spec.equal(sp) || s.tc.gaveUp()) {
		return
	}
	old := s.tc
	s.tc = nil
	if old != nil {
		old.close()
		s.ss.st.Discontinuity()
		s.log.Info("live HLS transcoder restarts for a new input", "w", w, "h", h)
	}
	if sp.fourcc == "" && !sp.audio {
		return // nothing to transcode: H.264 without audio or ladder
	}
	s.tc = newTranscoder(s.f, s.log, sp, s.ss, s.room.RequestKeyframe, s.ss.latest())
}

func rungName(h int) string { return strconv.Itoa(h) + "p" }

// detach stops a session a newer one of the same room took the stream from.
func (s *roomSink) detach() {
	s.mu.Lock()
	s.superseded = true
	tc := s.tc
	s.tc = nil
	s.mu.Unlock()
	if tc != nil {
		tc.close()
	}
}

// Close implements sfu.Sink: the transcoder is killed and waited for, the stream ends (unless
// a newer session of the room owns it) and lingers in the packager.
func (s *roomSink) Close() error { return s.close(false) }

// close is Close; idle: the room goes on, its live HLS stopped for want of viewers (the stream
// is removed at once instead of lingering).
func (s *roomSink) close(idle bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	tc := s.tc
	s.tc = nil
	s.mu.Unlock()
	if tc != nil {
		tc.close()
	}
	s.f.ended(s, idle)
	if idle {
		s.log.Info("live HLS stopped: no viewer asked for it")
	} else {
		s.log.Info("live HLS ended")
	}
	return nil
}
