package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/sfu"
)

// What a SIGKILL can lose is what the recorder holds in memory: the jitter buffers (waiting for a
// lost packet to be resent) and the audio held back for video. Each is bounded in time so that
// at most about half a second is lost however the kill falls (TestKillServe measures it).
const (
	videoMaxLate = 256 // packets the jitter buffer waits for a missing one (video)
	// videoMaxDelay bounds that wait in time: a gap not repaired (NACK) within it is skipped.
	videoMaxDelay = 350 * time.Millisecond
	audioMaxLate  = 16 // (audio, ~0.32 s)
	keyframeLead  = 300 * time.Millisecond
	audioHold     = 400 * time.Millisecond // audio waits at most this long for video to catch up
	// firstKeyAsk is how often the recorder asks for a keyframe while it waits for the first
	// one (the SFU asks once when the recorder attaches; that one can be lost or come too early).
	firstKeyAsk = 250 * time.Millisecond
	// prevAudioWait is how long after a cut the previous chunk waits for its late audio.
	prevAudioWait = 1500 * time.Millisecond
	// writeBatch: the media files are written every writeBatch of arrival time (several frames
	// and pages in one write(2) each), not once per frame and page: 20 write(2) a second per
	// recorded room instead of ≈ 80. A SIGKILL loses at most this much more (TestKillLossBounded).
	writeBatch = 100 * time.Millisecond
	// maxBatchBytes writes a batch at once when it grows past this (a large keyframe).
	maxBatchBytes = 256 << 10
)

type track struct {
	info      sfu.TrackInfo
	video     bool
	clock     float64
	asm       *frameAssembler // video
	codec     videoCodec      // video
	vf        videoFormat     // video
	jb        *reorder        // audio
	anchorTL  float64         // timeline seconds of the first packet
	anchorRTP uint32
	unwrapped int64 // RTP units since anchorRTP of the last popped sample
	last32    uint32
	popped    bool
	// broken is set when frames were lost or a picture came out cut short: what follows
	// references what is missing, and a decoder refuses it, so video is not written again
	// until the next keyframe (the recording shows a short freeze, never corrupt pictures).
	broken bool
}

func (t *track) tl(ts uint32) (float64, int64) {
	if !t.popped {
		t.unwrapped, t.popped = int64(int32(ts-t.anchorRTP)), true
	} else {
		t.unwrapped += int64(int32(ts - t.last32))
	}
	t.last32 = ts
	return t.anchorTL + float64(t.unwrapped)/t.clock, t.unwrapped
}

type audioSample struct {
	data []byte
	tl   float64
	ts   int64 // unwrapped, 48 kHz
}

type chunk struct {
	info       ChunkInfo
	dir        string
	ivf        *ivfWriter
	ogg        *oggWriter
	videoStart int64
	audioStart int64
	end        float64 // timeline end of the last sample written
	keyAsked   time.Time
	// dirty: info names a media file that chunk.json does not name yet. chunk.json is written at
	// the next flush, after the media (flushChunk): a file it names always has whole frames.
	dirty bool
}

// Sink records one room; it implements sfu.Sink. WriteRTP and Close are called from one goroutine.
type Sink struct {
	r    *Recorder
	room Room
	dir  string
	m    Manifest
	log  *slog.Logger

	mu       sync.Mutex
	resume   bool // continues an ended recording (m holds it)
	rebased  bool
	t0       time.Time
	started  bool
	hasVideo bool
	failed   bool
	closed   bool
	// paused: the data disk filled (full.go); packets are dropped until there is room again,
	// then the recording goes on with the next chunk. probed is when room was last looked for.
	paused   bool
	probed   time.Time
	tracks   map[int]*track
	cur      *chunk
	prev     *chunk // cut for video, still taking late audio from before the cut
	audioQ   []audioSample
	videoTL  float64   // timeline of the last video frame handled
	keyAsked time.Time // last keyframe request outside the chunk cuts (first keyframe, losses)
	skipped  int       // video frames not written after a loss, until the next keyframe
	flushed  time.Time // when the media files were last written (writeBatch)
	opened   bool      // a chunk was opened (the manifest is rewritten at the first one only)
}

// askKeyframe asks the publisher for a keyframe unless the recorder did so less than every ago.
func (s *Sink) askKeyframe(every time.Duration) {
	if now := time.Now(); now.Sub(s.keyAsked) >= every {
		s.keyAsked = now
		s.room.RequestKeyframe()
	}
}

// ID is the recording id.
func (s *Sink) ID() string { return s.m.ID }

// WriteRTP implements sfu.Sink.
func (s *Sink) WriteRTP(info sfu.TrackInfo, pkt *rtp.Packet) error {
	return s.WriteAgedRTP(info, pkt, 0)
}

// WriteAgedRTP implements sfu.AgedSink: pkt arrived age ago (the SFU replays the packets since
// the latest keyframe when the recorder attaches), which puts a track's first packet, and the
// recording's start, at its arrival on the timeline.
func (s *Sink) WriteAgedRTP(info sfu.TrackInfo, pkt *rtp.Packet, age time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.failed {
		return nil // recording stopped; the live stream goes on
	}
	if s.paused && !s.tryResume() { // full.go
		return nil // the disk is still full: the live stream goes on
	}
	if err := s.write(info, pkt, age); err != nil {
		if diskFull(err) && s.started {
			s.pause(err)
		} else {
			s.fail(err)
		}
	}
	return nil
}

func (s *Sink) write(info sfu.TrackInfo, pkt *rtp.Packet, age time.Duration) error {
	now := s.r.p.Now().Add(-age)
	if !s.started {
		if err := s.start(now); err != nil {
			return err
		}
	}
	t, ok := s.tracks[info.Index]
	if !ok {
		var err error
		if t, err = s.newTrack(info, pkt, now); err != nil {
			return err
		}
	}
	if t.clock == 0 {
		return nil // codec not recorded
	}
	if t.video {
		t.asm.push(pkt) // copies the payload
	} else {
		t.jb.push(pkt.Clone())
	}
	if err := s.pop(t, false); err != nil {
		return err
	}
	if now.Sub(s.flushed) >= writeBatch || now.Before(s.flushed) {
		s.flushed = now
		return s.flushFiles()
	}
	return nil
}

// flushFiles writes what the open chunks' media files gathered (writeBatch).
func (s *Sink) flushFiles() error {
	for _, c := range []*chunk{s.prev, s.cur} {
		if c != nil {
			if err := s.flushChunk(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushChunk writes what c's media files gathered, then chunk.json if it changed (a file
// opened): one chunk.json write for both files of a chunk, and never one naming a file without
// a whole frame in it.
func (s *Sink) flushChunk(c *chunk) error {
	if c.ivf != nil {
		if err := c.ivf.flush(); err != nil {
			return fmt.Errorf("%w: %w", ErrDisk, err)
		}
	}
	if c.ogg != nil {
		if err := c.ogg.flush(); err != nil {
			return fmt.Errorf("%w: %w", ErrDisk, err)
		}
	}
	if c.dirty {
		if err := writeJSON(filepath.Join(c.dir, chunkFile), c.info); err != nil {
			return fmt.Errorf("%w: %w", ErrDisk, err)
		}
		c.dirty = false
	}
	return nil
}

func (s *Sink) pop(t *track, flush bool) error {
	for {
		if t.video {
			data, pts, dropped, ok := t.asm.pop(flush)
			if !ok {
				return nil
			}
			if t.popped && int32(pts-t.last32) <= 0 {
				// Not after the previous frame (a publisher that reused a timestamp):
				// IVF timestamps must increase.
				continue
			}
			if dropped > 0 && s.cur != nil {
				// Frames were lost (a gap not repaired in time): what follows references them,
				// so skip to the next keyframe, and ask for one to make the recording whole again soon.
				t.broken = true
				s.askKeyframe(time.Second)
			}
			tl, ts := t.tl(pts)
			if err := s.video(t, data, tl, ts); err != nil {
				return err
			}
			continue
		}
		p := t.jb.pop(flush)
		if p == nil {
			return nil
		}
		if len(p.Payload) == 0 {
			continue
		}
		tl, ts := t.tl(p.Timestamp)
		s.audioQ = append(s.audioQ, audioSample{data: p.Payload, tl: tl, ts: ts})
		if err := s.flushAudio(false); err != nil {
			return err
		}
	}
}

func (s *Sink) start(now time.Time) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	s.t0, s.started = now, true
	if s.resume {
		_ = os.Remove(filepath.Join(s.dir, archivedFile)) // not archived in full any more
		// The timeline goes on where the previous part ended: no gap in the archive.
		s.t0 = now.Add(-time.Duration(s.m.End * float64(time.Second)))
	} else {
		s.m.StartedAt = now.UTC()
	}
	if lr, ok := s.room.(interface{ Tracks() []sfu.TrackInfo }); ok {
		for _, ti := range lr.Tracks() {
			if _, ok := videoCodecFor(ti.Codec.MimeType); ok && ti.Kind == webrtc.RTPCodecTypeVideo {
				s.hasVideo = true
			}
		}
	}
	if err := writeJSON(filepath.Join(s.dir, manifestFile), s.m); err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	s.log.Info("recording started", "resumed", s.resume, "chunk", s.m.Chunks)
	if h := s.r.p.Hooks.Started; h != nil {
		h(s.m)
	}
	return nil
}

func isOpus(mime string) bool { return strings.EqualFold(mime, webrtc.MimeTypeOpus) }

func (s *Sink) newTrack(info sfu.TrackInfo, pkt *rtp.Packet, now time.Time) (*track, error) {
	t := &track{info: info, anchorRTP: pkt.Timestamp, anchorTL: now.Sub(s.t0).Seconds()}
	vc, isVideo := videoCodecFor(info.Codec.MimeType)
	switch {
	case info.Kind == webrtc.RTPCodecTypeVideo && isVideo && !s.videoTrack():
		t.video, t.clock, t.codec, t.vf = true, 90000, vc, vc.format()
		t.asm = newFrameAssembler(videoMaxLate, vc.depack(), uint32(videoMaxDelay.Seconds()*90000))
		s.hasVideo = true
	case info.Kind == webrtc.RTPCodecTypeAudio && isOpus(info.Codec.MimeType) && !s.hasAudioTrack():
		t.clock = 48000
		t.jb = newReorder(audioMaxLate)
	default:
		// Other codecs, and further tracks of a kind already recorded, are ignored (logged once).
		s.log.Warn("track not recorded", "kind", info.Kind.String(), "codec", info.Codec.MimeType)
		t = &track{info: info} // clock 0: ignored
		s.tracks[info.Index] = t
		return t, nil
	}
	s.tracks[info.Index] = t
	return t, nil
}

// skippingVideo reports whether video is being skipped until the next keyframe (after a loss).
func (s *Sink) skippingVideo() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tracks {
		if t.video && t.broken {
			return true
		}
	}
	return false
}

// videoTrack reports whether a video track is recorded already (one per recording).
func (s *Sink) videoTrack() bool {
	for _, t := range s.tracks {
		if t.video {
			return true
		}
	}
	return false
}

func (s *Sink) video(t *track, frame []byte, tl float64, ts int64) error {
	frame, key, w, h := t.vf.frame(frame)
	if p, ok := t.vf.(interface{ cutShort() bool }); ok && p.cutShort() && s.cur != nil {
		t.broken = true
		s.askKeyframe(time.Second)
	}
	resumed := key && t.broken // the keyframe ends a freeze after a loss
	switch {
	case key:
		t.broken = false
	case t.broken:
		s.skipped++
		// Video has passed this time (it freezes there): the audio up to it need not wait.
		s.videoTL = max(s.videoTL, tl)
		return s.flushAudio(false)
	}
	c := s.cur
	if key && w > 0 && s.m.Width == 0 {
		s.m.Width, s.m.Height = w, h
	}
	switch {
	case c == nil && !key:
		s.askKeyframe(firstKeyAsk)
		return nil // wait for the first keyframe
	case c == nil:
		tl = s.rebase(tl)
		if err := s.openChunk(s.m.Chunks, tl); err != nil {
			return err
		}
	case key && tl >= c.info.Start+s.r.p.ChunkDuration.Seconds():
		if err := s.cut(tl); err != nil {
			return err
		}
	case tl >= c.info.Start+s.r.p.ChunkDuration.Seconds()-keyframeLead.Seconds() && time.Since(c.keyAsked) > time.Second:
		c.keyAsked = time.Now()
		s.room.RequestKeyframe()
	}
	if p := s.prev; p != nil && tl > s.cur.info.Start+prevAudioWait.Seconds() {
		// The audio from before the cut never came (lost, or the track stopped).
		if err := s.finishPrev(); err != nil {
			return err
		}
	}
	c = s.cur
	if c.ivf == nil {
		if !key {
			return nil
		}
		var err error
		if c.ivf, err = newIVF(filepath.Join(c.dir, videoFile), t.codec.fourcc, w, h); err != nil {
			return fmt.Errorf("%w: %w", ErrDisk, err)
		}
		c.videoStart = ts
		c.info.Video = &TrackFile{Path: filepath.Join(c.dir, videoFile), Codec: t.codec.mime, Offset: tl - c.info.Start}
		c.dirty = true
	}
	if err := c.ivf.write(frame, ts-c.videoStart); err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	if resumed { // the video after a freeze is on disk at once
		if err := s.flushChunk(c); err != nil {
			return err
		}
	}
	c.end = max(c.end, tl+1.0/30)
	s.videoTL = tl
	return s.flushAudio(false)
}

// flushAudio writes the queued audio that video has passed (or that waited too long, or all when
// force is set). Without video, audio drives the chunk cuts itself.
func (s *Sink) flushAudio(force bool) error {
	for len(s.audioQ) > 0 {
		a := s.audioQ[0]
		newest := s.audioQ[len(s.audioQ)-1].tl
		if s.hasVideo && !force && a.tl > s.videoTL && newest-a.tl < audioHold.Seconds() {
			return nil
		}
		s.audioQ = s.audioQ[1:]
		if err := s.audio(a); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) audio(a audioSample) error {
	c := s.cur
	if !s.hasVideo {
		switch {
		case c == nil:
			a.tl = s.rebase(a.tl)
			if err := s.openChunk(s.m.Chunks, a.tl); err != nil {
				return err
			}
		case a.tl >= c.info.Start+s.r.p.ChunkDuration.Seconds():
			if err := s.cut(a.tl); err != nil {
				return err
			}
		}
		c = s.cur
	}
	if s.prev != nil {
		if a.tl < c.info.Start {
			c = s.prev // late audio of the previous chunk
		} else if err := s.finishPrev(); err != nil {
			return err
		}
	}
	if c == nil || a.tl < c.info.Start-0.005 {
		return nil // before the first keyframe: not part of the recording
	}
	if c.ogg == nil {
		var err error
		if c.ogg, err = newOgg(filepath.Join(c.dir, audioFile), uint32(c.info.Index+1)); err != nil {
			return fmt.Errorf("%w: %w", ErrDisk, err)
		}
		c.audioStart = a.ts
		c.info.Audio = &TrackFile{Path: filepath.Join(c.dir, audioFile), Codec: webrtc.MimeTypeOpus, Offset: max(0, a.tl-c.info.Start)}
		c.dirty = true
	}
	if err := c.ogg.write(a.data, a.ts-c.audioStart); err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	if c == s.cur {
		c.end = max(c.end, a.tl+float64(opusSamples(a.data))/48000)
	}
	return nil
}

// rebase, for a continued recording, moves the timeline so that the first chunk of this part
// starts exactly where the previous part ended (however long the first keyframe took), and
// returns t on the new timeline. For a new recording it returns t unchanged.
func (s *Sink) rebase(t float64) float64 {
	if !s.resume || s.rebased {
		return t
	}
	s.rebased = true
	d := s.m.End - t
	for _, tr := range s.tracks {
		tr.anchorTL += d
	}
	for i := range s.audioQ {
		s.audioQ[i].tl += d
	}
	return t + d
}

func (s *Sink) openChunk(i int, start float64) error {
	// chunk.json comes with the chunk's first media (flushChunk): a directory without it is no
	// chunk (Scan). The manifest is written again at the first chunk only (its picture size):
	// Scan counts the chunks on disk after a crash, and the end writes the final count.
	c := &chunk{dir: chunkDir(s.dir, i), info: ChunkInfo{RecordingID: s.m.ID, Index: i, Start: start}, end: start}
	if err := os.Mkdir(c.dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	s.m.Chunks = i + 1
	if !s.opened {
		s.opened = true
		if err := writeJSON(filepath.Join(s.dir, manifestFile), s.m); err != nil {
			return fmt.Errorf("%w: %w", ErrDisk, err)
		}
	}
	s.cur = c
	return nil
}

// cut ends the current chunk at timeline t and opens the next one there. Queued audio before t
// still belongs to the old chunk; audio from before t that is still in the jitter buffer goes
// there too when it comes, so the old chunk is complete once audio has passed t.
func (s *Sink) cut(t float64) error {
	old := s.cur
	for len(s.audioQ) > 0 && s.audioQ[0].tl < t {
		a := s.audioQ[0]
		s.audioQ = s.audioQ[1:]
		if err := s.audio(a); err != nil {
			return err
		}
	}
	if err := s.finishPrev(); err != nil {
		return err
	}
	if old.ivf != nil {
		if err := old.ivf.close(); err != nil {
			return fmt.Errorf("%w: %w", ErrDisk, err)
		}
		old.ivf = nil
	}
	old.end = t
	if s.hasVideo && s.tracks != nil && s.hasAudioTrack() {
		s.prev = old
	} else if err := s.closeChunk(old, t); err != nil {
		return err
	}
	return s.openChunk(old.info.Index+1, t)
}

func (s *Sink) hasAudioTrack() bool {
	for _, t := range s.tracks {
		if t.clock == 48000 {
			return true
		}
	}
	return false
}

func (s *Sink) finishPrev() error {
	p := s.prev
	if p == nil {
		return nil
	}
	s.prev = nil
	return s.closeChunk(p, p.end)
}

func (s *Sink) closeChunk(c *chunk, end float64) error {
	var errs []error
	if c.ivf != nil {
		errs = append(errs, c.ivf.close())
	}
	if c.ogg != nil {
		errs = append(errs, c.ogg.close())
	}
	c.ivf, c.ogg = nil, nil
	c.info.Duration = end - c.info.Start
	c.info.Closed = true
	c.info.Width, c.info.Height = s.m.Width, s.m.Height
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	if c.info.Video == nil && c.info.Audio == nil {
		// Nothing was written (e.g. the room ended right after a cut): drop the chunk.
		_ = os.RemoveAll(c.dir)
		s.m.Chunks = c.info.Index
		return nil
	}
	if err := writeJSON(filepath.Join(c.dir, chunkFile), c.info); err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	s.log.Debug("chunk closed", "chunk", c.info.Index, "start", c.info.Start, "duration", c.info.Duration)
	if h := s.r.p.Hooks.Chunk; h != nil {
		h(c.info)
	}
	return nil
}

func (s *Sink) fail(err error) {
	s.failed = true
	s.r.failures.Add(1)
	s.log.Error("recording stopped; the live stream goes on", "err", err)
	for _, c := range []*chunk{s.prev, s.cur} {
		if c == nil {
			continue
		}
		if c.ivf != nil {
			_ = c.ivf.close()
		}
		if c.ogg != nil {
			_ = c.ogg.close()
		}
	}
	if h := s.r.p.Hooks.Failed; h != nil {
		h(s.m, err)
	}
}

// Close ends the recording: flushes the jitter buffers, closes the last chunk and the manifest.
// It is idempotent.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.started || s.failed {
		if !s.started && !s.resume {
			_ = os.RemoveAll(s.dir)
		}
		if s.resume && !s.failed {
			// Reconnected but sent nothing: the recording stays ended as it was.
			end := s.r.p.Now().UTC()
			s.m.EndedAt = &end
			s.m.Resumed--
			s.r.done(s.m.ID, &s.m)
			return nil
		}
		s.r.done(s.m.ID, nil)
		return nil
	}
	err := s.finish()
	if err != nil {
		s.fail(err)
		s.r.done(s.m.ID, nil)
		return err
	}
	s.r.done(s.m.ID, &s.m)
	return nil
}

func (s *Sink) finish() error {
	for _, t := range s.tracks {
		if t.clock == 0 {
			continue
		}
		if err := s.pop(t, true); err != nil {
			return err
		}
	}
	if err := s.flushAudio(true); err != nil {
		return err
	}
	if err := s.finishPrev(); err != nil {
		return err
	}
	if s.cur != nil {
		if err := s.closeChunk(s.cur, s.cur.end); err != nil {
			return err
		}
		s.m.End = s.cur.info.Start + s.cur.info.Duration
	}
	end := s.r.p.Now().UTC()
	s.m.EndedAt = &end
	if err := writeJSON(filepath.Join(s.dir, manifestFile), s.m); err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	s.log.Info("recording ended", "chunks", s.m.Chunks, "video_frames_skipped_after_loss", s.skipped)
	if h := s.r.p.Hooks.Ended; h != nil {
		h(s.m)
	}
	return nil
}
