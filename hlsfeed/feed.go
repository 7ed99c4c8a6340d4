// Package hlsfeed turns a live room's RTP into the room's live LL-HLS stream (package livehls):
// an sfu.Sink per room (like the recorder) that puts every track on one media timeline
// anchored to arrival (media time 0 is the stream's epoch, so EXT-X-PROGRAM-DATE-TIME is the
// server's wall clock at capture), copies H.264 video to the top rendition without
// re-encoding, and runs one ffmpeg per room, never per viewer, for what must be encoded:
// VP8/VP9/AV1 video to H.264, the ladder's smaller renditions, Opus to AAC. See docs/LLHLS.md,
// "From a live room to the playlist".
package hlsfeed

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/livehls"
	"github.com/relaycast/relaycast/sfu"
)

// Params configures a Feed. Zero fields take the defaults.
type Params struct {
	// Packager holds the streams (LiveHLS(server) in production). Required.
	Packager Packager
	Logger   *slog.Logger
	// FFmpeg is the ffmpeg binary. Default "ffmpeg".
	FFmpeg string
	// Ladder lists the heights of the extra renditions (tallest first); a rung is made only
	// from a source at least 1.5 times as tall. Empty: the top rendition only.
	Ladder []int
	// Stream shapes every room's stream (part and segment targets, window). Its
	// SegmentTarget (default 2s) is also the keyframe cadence asked of H.264 publishers and
	// forced in ffmpeg's output.
	Stream livehls.Config
	// Linger is how long the feed remembers an ended room's stream (to continue it when its
	// publisher is back; the packager decides). Default 30s.
	Linger time.Duration
	// MaxRestarts bounds how often one room's ffmpeg is restarted after it died. Default 10.
	MaxRestarts int
	// RestartBackoff is the first wait before a restart; it doubles up to 10 times that.
	// Default 250ms.
	RestartBackoff time.Duration
	// StallAfter is how long ffmpeg may take input without giving output before it is taken
	// for hung, killed and restarted like one that died (checked when input comes, no timer).
	// Default 10s.
	StallAfter time.Duration
	// QueueFrames bounds each ffmpeg input's queue (frames or packets). Default 256.
	QueueFrames int
	// OnDemand starts a live room's HLS at its first Demand (a request for /live/{room}/…)
	// instead of when the room goes live, and stops it after Idle without one (demand.go).
	// False: every live room has its live HLS from the start (--live-hls-start always).
	OnDemand bool
	// Idle is how long an on-demand room's live HLS goes on without a request. Default 2m.
	Idle time.Duration
	// Now is the wall clock (tests). Default time.Now.
	Now func() time.Time
}

// Feed makes the live HLS of every room of a node: OnLive is the sfu OnLive hook's part.
type Feed struct {
	p     Params
	log   *slog.Logger
	stats stats
	wg    sync.WaitGroup // transcoders

	mu      sync.Mutex
	closed  bool
	sinks   map[*roomSink]struct{}
	streams map[string]*streamState
	// on demand (demand.go): the current session's sink of every live room, and when the rooms
	// whose session ended were last asked for (a publisher back soon starts at once if so)
	demand map[string]*demandSink
	recent map[string]time.Time
}

// New makes a feed.
func New(p Params) *Feed {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.FFmpeg == "" {
		p.FFmpeg = "ffmpeg"
	}
	if p.Stream.SegmentTarget <= 0 {
		p.Stream.SegmentTarget = 2 * time.Second
	}
	if p.Linger <= 0 {
		p.Linger = 30 * time.Second
	}
	if p.MaxRestarts <= 0 {
		p.MaxRestarts = 10
	}
	if p.RestartBackoff <= 0 {
		p.RestartBackoff = 250 * time.Millisecond
	}
	if p.StallAfter <= 0 {
		p.StallAfter = 10 * time.Second
	}
	if p.QueueFrames <= 0 {
		p.QueueFrames = 256
	}
	if p.Idle <= 0 {
		p.Idle = 2 * time.Minute
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Feed{p: p, log: p.Logger.With("component", "hlsfeed"), sinks: map[*roomSink]struct{}{}, streams: map[string]*streamState{},
		demand: map[string]*demandSink{}, recent: map[string]time.Time{}}
}

// streamState is what the feed keeps of one room's stream across its publisher's sessions.
type streamState struct {
	room string
	st   Stream

	mu       sync.Mutex
	variants map[string]Variant
	audio    *livehls.AudioParams
	high     time.Duration // the latest media time written (a new session starts after it)

	f *Feed
	// guarded by Feed.mu
	owner   *roomSink
	endedAt time.Time
	forget  *time.Timer // drops the ended stream after 2×Linger (Feed.forget)
}

// ownerKeyframe asks the current session's publisher for a keyframe (none while ended).
func (s *streamState) ownerKeyframe() {
	s.f.mu.Lock()
	o := s.owner
	s.f.mu.Unlock()
	if o != nil {
		o.room.RequestKeyframe()
	}
}

// variant returns the stream's rendition p.Name, adding it the first time.
func (s *streamState) variant(p livehls.VariantParams) (Variant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.variants[p.Name]; ok {
		return v, nil
	}
	v, err := s.st.AddVariant(p)
	if err != nil {
		return nil, err
	}
	s.variants[p.Name] = v
	return v, nil
}

// setAudio declares the stream's audio unless it is what was declared already.
func (s *streamState) setAudio(p livehls.AudioParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.audio; a != nil && a.SampleRate == p.SampleRate && a.Channels == p.Channels && string(a.Config) == string(p.Config) {
		return nil
	}
	if err := s.st.SetAudio(p); err != nil {
		return err
	}
	s.audio = &p
	return nil
}

// bump records that media time d was written.
func (s *streamState) bump(d time.Duration) {
	s.mu.Lock()
	if d > s.high {
		s.high = d
	}
	s.mu.Unlock()
}

func (s *streamState) latest() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.high
}

// OnLive returns the live HLS sink of a room that went live (nil once the feed is closed). On
// demand the sink stays dormant (it drops what it gets) until the room's first Demand.
func (f *Feed) OnLive(room sfu.LiveRoom) sfu.Sink {
	if f.p.OnDemand {
		if d := f.onDemand(room); d != nil {
			return d
		}
		return nil
	}
	if s := f.open(room); s != nil {
		return s
	}
	return nil
}

// open starts a room session's live HLS: the room's stream (a lingering one continues), its
// sink. Nil once the feed is closed.
func (f *Feed) open(room sfu.LiveRoom) *roomSink {
	name := room.Name()
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	now := f.p.Now()
	for k, ss := range f.streams { // forget streams whose linger is long over
		if ss.owner == nil && now.Sub(ss.endedAt) > 2*f.p.Linger {
			delete(f.streams, k)
		}
	}
	st := f.p.Packager.Open(name, f.p.Stream)
	ss, ok := f.streams[name]
	resumed := ok && ss.st == st
	if !resumed {
		ss = &streamState{room: name, st: st, variants: map[string]Variant{}, f: f}
		f.streams[name] = ss
	}
	s := &roomSink{f: f, room: room, name: name, ss: ss, log: f.log.With("room", name), tracks: map[int]*track{}, floor: ss.latest()}
	prev := ss.owner
	ss.owner = s
	f.sinks[s] = struct{}{}
	f.mu.Unlock()
	if prev != nil {
		prev.detach() // an earlier session of the room that has not ended yet: this one goes on
	}
	if resumed {
		st.Discontinuity()
		s.log.Info("live HLS continues the room's stream")
	} else {
		s.log.Info("live HLS started")
	}
	return s
}

// ended is called by a sink's Close: the stream ends unless a newer session owns it. idle: the
// room goes on but its live HLS stopped for want of viewers (demand.go): the stream is removed
// at once, and the room's next start makes a new one.
func (f *Feed) ended(s *roomSink, idle bool) {
	f.mu.Lock()
	delete(f.sinks, s)
	owner := s.ss.owner == s
	if owner {
		ss := s.ss
		ss.owner, ss.endedAt = nil, f.p.Now()
		if ss.forget != nil {
			ss.forget.Stop()
		}
		if idle {
			if f.streams[s.name] == ss {
				delete(f.streams, s.name)
			}
		} else {
			// An ended room's stream is kept for viewers finishing it and a reconnect, then forgotten.
			ss.forget = time.AfterFunc(2*f.p.Linger, func() { f.forget(ss) })
		}
	}
	f.mu.Unlock()
	switch {
	case owner && idle:
		f.p.Packager.Remove(s.name, s.ss.st)
	case owner:
		s.ss.st.End()
		f.p.Packager.Ended(s.name, s.ss.st)
	}
}

// forget drops an ended room's stream once its linger is long over. The prune in OnLive runs
// only when another room goes live: without this the last ended room's stream, its whole
// window of segments, stayed for good (docs/RELIABILITY.md "Soak").
func (f *Feed) forget(ss *streamState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streams[ss.room] == ss && ss.owner == nil {
		delete(f.streams, ss.room)
	}
}

// Close closes every room's sink (ending its stream and killing its ffmpeg) and waits.
func (f *Feed) Close() error {
	f.mu.Lock()
	f.closed = true
	for _, ss := range f.streams {
		if ss.forget != nil {
			ss.forget.Stop()
		}
	}
	sinks := make([]*roomSink, 0, len(f.sinks))
	for s := range f.sinks {
		sinks = append(sinks, s)
	}
	dormant := make([]*demandSink, 0, len(f.demand))
	for _, d := range f.demand {
		dormant = append(dormant, d)
	}
	f.mu.Unlock()
	for _, d := range dormant {
		_ = d.Close()
	}
	for _, s := range sinks {
		_ = s.Close()
	}
	f.wg.Wait()
	return nil
}

// TranscoderPID is the process id of the room's running ffmpeg (0 when none runs).
func (f *Feed) TranscoderPID(room string) int {
	f.mu.Lock()
	ss := f.streams[room]
	var s *roomSink
	if ss != nil {
		s = ss.owner
	}
	f.mu.Unlock()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	tc := s.tc
	s.mu.Unlock()
	if tc == nil {
		return 0
	}
	return tc.pid()
}

// Stats are the feed's counters.
type Stats struct {
	Rooms        int   // rooms with live HLS now (on demand: started, not stopped)
	Dormant      int   // on demand: live rooms whose live HLS is not started
	Starts       int64 // on demand: live HLS started by a request
	IdleStops    int64 // on demand: live HLS stopped after --live-hls-idle without a request
	Transcoders  int   // ffmpeg processes running now
	Restarts     int64 // ffmpeg restarts after it died
	Dropped      int64 // frames/packets dropped because ffmpeg's input queue was full
	ExitedCPUSec float64
}

type stats struct {
	running   atomic.Int64
	starts    atomic.Int64
	idleStops atomic.Int64
	restarts  atomic.Int64
	dropped   atomic.Int64
	cpuMu     sync.Mutex
	cpu       time.Duration // CPU of the ffmpeg processes that exited
}

func (s *stats) addCPU(d time.Duration) {
	s.cpuMu.Lock()
	s.cpu += d
	s.cpuMu.Unlock()
}

// Stats returns the counters.
func (f *Feed) Stats() Stats {
	f.mu.Lock()
	n := len(f.sinks)
	ds := make([]*demandSink, 0, len(f.demand))
	for _, d := range f.demand {
		ds = append(ds, d)
	}
	f.mu.Unlock()
	dormant := 0
	for _, d := range ds { // not under f.mu: a demandSink takes its lock first
		if !d.running() {
			dormant++
		}
	}
	f.stats.cpuMu.Lock()
	cpu := f.stats.cpu
	f.stats.cpuMu.Unlock()
	return Stats{Rooms: n, Dormant: dormant, Starts: f.stats.starts.Load(), IdleStops: f.stats.idleStops.Load(),
		Transcoders: int(f.stats.running.Load()), Restarts: f.stats.restarts.Load(),
		Dropped: f.stats.dropped.Load(), ExitedCPUSec: cpu.Seconds()}
}
