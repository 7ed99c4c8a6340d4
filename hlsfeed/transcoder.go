package hlsfeed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/relaycast/relaycast/livehls"
)

// transcoder is one room's ffmpeg (VP8/VP9/AV1 → H.264, the ladder, Opus → AAC), restarted
// with backoff when it dies (the stream gets a discontinuity), at most MaxRestarts times. The
// room's sink writes its inputs without blocking (bounded queues; a full one drops, and video
// then waits for the next keyframe); a reader goroutine writes ffmpeg's output to the stream.
type transcoder struct {
	f    *Feed
	log  *slog.Logger
	spec spec
	out  *streamState
	ask  func() // asks the publisher for a keyframe

	mu        sync.Mutex
	run       *ffRun // nil while none is running
	closed    bool
	restarts  int
	exhausted bool          // gave up after MaxRestarts
	base      time.Duration // media time a new run starts at (the latest the sink wrote)

	stop chan struct{}
	done chan struct{}
}

// ffRun is one ffmpeg process and its pipes. Its fields but cmd are guarded by transcoder.mu.
type ffRun struct {
	cmd     *exec.Cmd
	base    time.Duration // media time at tsOffset in this run's timestamps
	video   chan []byte   // IVF records to fd 3 (nil without video)
	audio   chan []byte   // MPEG-TS to the audio fd (nil without audio)
	vhdr    bool          // the IVF header went out
	needKey bool          // video waits for a keyframe (start, or a frame dropped)
	ts      *mpegts.Writer
	tsTrack *mpegts.Track
	tsBuf   bytes.Buffer
	tail    *tailBuffer
	wg      sync.WaitGroup // the pipe writers
	read    chan struct{}  // closed when the output reader is done
	started time.Time
	lastOut atomic.Int64 // unix ns of ffmpeg's last output (the reader's)
	hung    bool         // killed for giving no output
	fedAt   time.Time    // when it was first given input
}

func newTranscoder(f *Feed, log *slog.Logger, s spec, out *streamState, ask func(), base time.Duration) *transcoder {
	t := &transcoder{f: f, log: log, spec: s, out: out, ask: ask, base: base, stop: make(chan struct{}), done: make(chan struct{})}
	r, err := t.start() // now: the keyframe that made the sink start it goes in
	f.wg.Add(1)
	go t.supervise(r, err)
	return t
}

// supervise waits for ffmpeg until the transcoder is closed, restarting it when it died.
func (t *transcoder) supervise(r *ffRun, err error) {
	defer t.f.wg.Done()
	defer close(t.done)
	backoff := t.f.p.RestartBackoff
	for {
		if err == nil {
			t.f.stats.running.Add(1)
			err = t.wait(r)
			t.f.stats.running.Add(-1)
		}
		t.mu.Lock()
		t.run = nil
		closed := t.closed
		t.mu.Unlock()
		if closed {
			return
		}
		if r != nil && time.Since(r.started) > time.Minute {
			backoff = t.f.p.RestartBackoff // it ran well for a while: start the backoff over
		}
		t.restarts++
		t.f.stats.restarts.Add(1)
		tail := ""
		if r != nil {
			tail = r.tail.String()
		}
		if t.restarts > t.f.p.MaxRestarts {
			t.mu.Lock()
			t.exhausted = true
			t.mu.Unlock()
			t.log.Error("transcoder died too often; live HLS goes on without it", "restarts", t.restarts-1, "err", err, "stderr", tail)
			return
		}
		t.log.Warn("transcoder died; restarting", "err", err, "restart", t.restarts, "in", backoff, "stderr", tail)
		select {
		case <-time.After(backoff):
		case <-t.stop:
			return
		}
		backoff = min(2*backoff, 10*t.f.p.RestartBackoff)
		if r, err = t.start(); err == nil {
			t.out.st.Discontinuity()
			t.ask() // the new ffmpeg starts at a keyframe
		}
	}
}

// start starts one ffmpeg process with its pipes, writers and output reader.
func (t *transcoder) start() (*ffRun, error) {
	t.mu.Lock()
	base := t.base
	t.mu.Unlock()
	r := &ffRun{base: base, needKey: true, tail: newTail(4096), started: time.Now(), read: make(chan struct{})}
	cmd := exec.Command(t.f.p.FFmpeg, t.spec.args(t.f.p.Stream.SegmentTarget, t.f.p.Stream.FirstSegmentTarget())...)
	cmd.Stderr = r.tail
	var childEnds, ours []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			_ = f.Close()
		}
	}
	pipe := func() (*os.File, error) {
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		childEnds, ours = append(childEnds, pr), append(ours, pw)
		return pw, nil
	}
	var vw, aw *os.File
	var err error
	if t.spec.fourcc != "" {
		if vw, err = pipe(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrTranscoder, err)
		}
	}
	if t.spec.audio {
		if aw, err = pipe(); err != nil {
			closeAll(childEnds)
			closeAll(ours)
			return nil, fmt.Errorf("%w: %v", ErrTranscoder, err)
		}
	}
	cmd.ExtraFiles = childEnds
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	closeAll(childEnds)
	if err != nil {
		closeAll(ours)
		return nil, fmt.Errorf("%w: %v", ErrTranscoder, err)
	}
	r.cmd = cmd
	q := t.f.p.QueueFrames
	if vw != nil {
		r.video = make(chan []byte, q)
		r.wg.Add(1)
		go r.pump(vw, r.video)
	}
	if aw != nil {
		r.audio = make(chan []byte, q)
		r.tsTrack = &mpegts.Track{Codec: &mpegts.CodecOpus{ChannelCount: 2}}
		r.ts = &mpegts.Writer{W: &r.tsBuf, Tracks: []*mpegts.Track{r.tsTrack}}
		if err := r.ts.Initialize(); err != nil {
			_ = cmd.Process.Kill()
		}
		r.wg.Add(1)
		go r.pump(aw, r.audio)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		r.closeInputs()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		r.wg.Wait()
		return nil, ErrClosed
	}
	t.run = r
	t.mu.Unlock()
	t.log.Debug("transcoder started", "pid", cmd.Process.Pid, "args", cmd.Args)
	go func() { // the output: runs until ffmpeg's stdout closes
		defer close(r.read)
		err := t.read(r, stdout)
		if err != nil && !errors.Is(err, io.EOF) {
			t.log.Debug("transcoder output ended", "err", err)
		}
		_ = cmd.Process.Kill() // a reader that gave up leaves no ffmpeg writing into the void
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return r, nil
}

// wait waits for the run's process to end, then for its writers.
func (t *transcoder) wait(r *ffRun) error {
	<-r.read // stdout is read to its end first (Wait closes it)
	err := r.cmd.Wait()
	t.mu.Lock()
	r.closeInputs()
	t.mu.Unlock()
	r.wg.Wait()
	if ps := r.cmd.ProcessState; ps != nil {
		t.f.stats.addCPU(ps.UserTime() + ps.SystemTime())
	}
	if err == nil {
		err = fmt.Errorf("%w: ffmpeg exited", ErrTranscoder)
	} else {
		err = fmt.Errorf("%w: %v", ErrTranscoder, err)
	}
	return err
}

// pump writes one input's queue into its pipe until the queue is closed or the pipe breaks.
func (r *ffRun) pump(w *os.File, q <-chan []byte) {
	defer r.wg.Done()
	defer func() { _ = w.Close() }()
	var broken bool
	for b := range q {
		if broken {
			continue
		}
		if _, err := w.Write(b); err != nil {
			broken = true // ffmpeg went away; the queue drains until it is closed
		}
	}
}

// closeInputs closes the input queues (under transcoder.mu).
func (r *ffRun) closeInputs() {
	if r.video != nil {
		close(r.video)
		r.video = nil
	}
	if r.audio != nil {
		close(r.audio)
		r.audio = nil
	}
}

// send queues b without blocking; false when the queue is full.
func send(q chan []byte, b []byte) bool {
	select {
	case q <- b:
		return true
	default:
		return false
	}
}

// checkStall kills the run's ffmpeg if it has given no output for stallAfter (under t.mu).
func (t *transcoder) checkStall(r *ffRun, now time.Time) {
	if r.hung || r.fedAt.IsZero() {
		return
	}
	last := r.fedAt
	if ns := r.lastOut.Load(); ns != 0 && time.Unix(0, ns).After(last) {
		last = time.Unix(0, ns)
	}
	if now.Sub(last) > t.f.p.StallAfter {
		r.hung = true
		t.log.Warn("transcoder gives no output; killing it", "for", now.Sub(last).Round(time.Second))
		_ = r.cmd.Process.Kill()
	}
}

// setBase sets the media time a restarted run starts at.
func (t *transcoder) setBase(d time.Duration) {
	t.mu.Lock()
	if d > t.base {
		t.base = d
	}
	t.mu.Unlock()
}

// writeVideo queues one video frame (Annex-B for H.264) at media time pts. It returns false
// when the frame was not taken and a keyframe is needed (the sink asks for one).
func (t *transcoder) writeVideo(pts time.Duration, frame []byte, key bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pts > t.base {
		t.base = pts
	}
	r := t.run
	if r == nil || r.video == nil {
		return true
	}
	t.checkStall(r, time.Now())
	if r.needKey && !key {
		return false
	}
	tk := ticks(pts - r.base + tsOffset)
	if tk < 0 {
		return true
	}
	if !r.vhdr {
		if !send(r.video, ivfHeader(t.spec.fourcc, t.spec.w, t.spec.h)) {
			return false
		}
		r.vhdr = true
	}
	if !send(r.video, ivfFrame(frame, tk)) {
		r.needKey = true
		t.f.stats.dropped.Add(1)
		return false
	}
	if r.fedAt.IsZero() {
		r.fedAt = time.Now()
	}
	r.needKey = false
	return true
}

// writeAudio queues one Opus packet at media time pts.
func (t *transcoder) writeAudio(pts time.Duration, pkt []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pts > t.base {
		t.base = pts
	}
	r := t.run
	if r == nil || r.audio == nil || r.ts == nil {
		return
	}
	if r.video == nil { // an audio-only run: its input is the audio
		t.checkStall(r, time.Now())
	}
	tk := ticks(pts - r.base + tsOffset)
	if tk < 0 {
		return
	}
	r.tsBuf.Reset()
	if err := r.ts.WriteOpus(r.tsTrack, tk, [][]byte{pkt}); err != nil {
		return
	}
	if !send(r.audio, bytes.Clone(r.tsBuf.Bytes())) {
		t.f.stats.dropped.Add(1)
	} else if r.fedAt.IsZero() {
		r.fedAt = time.Now()
	}
}

// read writes ffmpeg's MPEG-TS output to the stream: the H.264 tracks in PID order are the
// spec's outputs, the AAC track the stream's audio.
func (t *transcoder) read(r *ffRun, out io.Reader) error {
	rd := &mpegts.Reader{R: out}
	if err := rd.Initialize(); err != nil {
		return err
	}
	var ref = ticks(tsOffset) // the unwrapped timestamp last seen (33-bit wrap)
	media := func(raw int64) time.Duration {
		const mask = 1<<33 - 1
		d := (raw - ref) & mask
		if d > mask/2 {
			d -= mask + 1
		}
		v := ref + d
		ref = v
		return r.base + fromTicks(v) - tsOffset
	}
	vi := 0
	for _, tr := range rd.Tracks() {
		switch c := tr.Codec.(type) {
		case *mpegts.CodecH264:
			if vi >= len(t.spec.outs) {
				continue
			}
			o := t.spec.outs[vi]
			vi++
			v, err := t.out.variant(livehls.VariantParams{Name: o.name, Bandwidth: o.bitrate*11/10 + audioBitrate, Height: o.height})
			if err != nil {
				return err
			}
			rd.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				nalus := au[:0:0]
				for _, n := range au {
					if len(n) > 0 && n[0]&0x1f != naluAUD {
						nalus = append(nalus, n)
					}
				}
				if len(nalus) == 0 {
					return nil
				}
				r.lastOut.Store(time.Now().UnixNano())
				p, d := media(pts), media(dts)
				if err := v.WriteH264(p, d, nalus); err != nil && errors.Is(err, livehls.ErrClosed) {
					return err
				}
				return nil
			})
		case *mpegts.CodecMPEG4Audio:
			cfg, err := c.Config.Marshal()
			if err != nil {
				return err
			}
			if err := t.out.setAudio(livehls.AudioParams{SampleRate: c.Config.SampleRate, Channels: c.Config.ChannelCount, Config: cfg}); err != nil {
				return err
			}
			st := t.out.st
			rd.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				r.lastOut.Store(time.Now().UnixNano())
				if err := st.WriteAAC(media(pts), aus); err != nil && errors.Is(err, livehls.ErrClosed) {
					return err
				}
				return nil
			})
		}
	}
	rd.OnDecodeError(func(error) {})
	for {
		if err := rd.Read(); err != nil {
			return err
		}
	}
}

// close kills ffmpeg and waits for the transcoder's goroutines.
func (t *transcoder) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		<-t.done
		return
	}
	t.closed = true
	r := t.run
	t.mu.Unlock()
	close(t.stop)
	if r != nil {
		_ = r.cmd.Process.Kill()
	}
	<-t.done
}

// gaveUp reports whether the transcoder stopped restarting ffmpeg.
func (t *transcoder) gaveUp() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exhausted
}

// pid is the running ffmpeg's process id (0 when none runs).
func (t *transcoder) pid() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.run == nil || t.run.cmd.Process == nil {
		return 0
	}
	return t.run.cmd.Process.Pid
}

// tailBuffer keeps the last bytes written to it (ffmpeg's stderr, for the logs).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTail(n int) *tailBuffer { return &tailBuffer{max: n} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}
