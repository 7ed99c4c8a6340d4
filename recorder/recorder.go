// Package recorder turns the RTP of a live room into crash-safe chunk files plus a manifest on
// disk. It attaches to a room like a subscriber (an sfu.Sink) and tells its owner through hooks
// when a recording starts, a chunk is complete and a recording ends; it never transcodes.
//
// Timing: every track's RTP clock is anchored to the wall clock at its first packet, which puts
// all tracks on one recording timeline (seconds from the first packet). Chunks are cut at video
// keyframes (the recorder asks for one shortly before each chunk boundary); audio is held back
// until video has passed it, so each chunk's audio starts where its video starts. Each chunk
// records the offset of each track's first sample from the chunk start.
package recorder

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/sfu"
)

// Hooks are called by the recorder, from the room's sink goroutine: keep them short (hand heavy
// work to a goroutine you own).
type Hooks struct {
	Started func(Manifest)
	Chunk   func(ChunkInfo) // a chunk is complete on disk
	Ended   func(Manifest)  // the recording ended; every chunk was passed to Chunk before
	Failed  func(m Manifest, err error)
	// Paused: the data disk filled; the recording goes on when there is room (full.go), Resumed.
	Paused  func(m Manifest, err error)
	Resumed func(m Manifest)
}

// Params configures a Recorder.
type Params struct {
	Dir string // one sub-directory per recording
	// ChunkDuration is the target length of a chunk (default 10 s). Chunks are cut at the first
	// video keyframe after it.
	ChunkDuration time.Duration
	Logger        *slog.Logger
	Hooks         Hooks
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// ResumeFree is the free room a recording paused by a full disk waits for before it goes
	// on (full.go); default DefaultResumeFree (64 MiB).
	ResumeFree int64
	// ReconnectGrace: a room that goes live again within this time after its recording ended
	// continues that recording (same id, next chunk, timeline continuing without a gap).
	// 0 = every broadcast is a new recording.
	ReconnectGrace time.Duration
	// Continue, when set, decides whether a room that goes live continues a recording: it gets
	// the room and the room's recording that ended on this node within ReconnectGrace (nil if
	// none, as it ended) and returns the recording to continue (its ID, StartedAt, Chunks = the
	// first chunk index to write, End = where the timeline goes on, Resumed = this part's number
	// counting from 0 for the first; EndedAt is ignored) or false for
	// a new recording. It lets the owner continue a recording another node started (archive's
	// cross-node continuation); it is called without the recorder's lock, once per Attach.
	// Nil: only the local ended recording is continued.
	Continue func(room string, local *Manifest) (Manifest, bool)
}

// Recorder records rooms.
type Recorder struct {
	p   Params
	log *slog.Logger

	mu    sync.Mutex
	live  map[string]*Sink       // by recording id
	ended map[string]endedRecord // by room: recent ends, for reconnects

	failures atomic.Int64
	pauses   atomic.Int64
}

// New checks the directory.
func New(p Params) (*Recorder, error) {
	if p.ChunkDuration <= 0 {
		p.ChunkDuration = 10 * time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.ResumeFree <= 0 {
		p.ResumeFree = DefaultResumeFree
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDisk, err)
	}
	return &Recorder{p: p, log: p.Logger.With("component", "recorder"), live: map[string]*Sink{}, ended: map[string]endedRecord{}}, nil
}

// Dir is the recordings directory.
func (r *Recorder) Dir() string { return r.p.Dir }

// Failures counts recordings stopped by a disk error (for metrics).
func (r *Recorder) Failures() int64 { return r.failures.Load() }

// Pauses counts recordings paused by a full disk (for metrics).
func (r *Recorder) Pauses() int64 { return r.pauses.Load() }

// Live lists the ids of recordings being written now (the reconciler skips them).
func (r *Recorder) Live() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]bool, len(r.live))
	for id := range r.live {
		out[id] = true
	}
	return out
}

// Position is how far a recording being written has got: the chunks opened so far (the index
// of the open one + 1) and the timeline end of the media written, seconds. The archive keeps
// the latest in Redis so that a node taking a recording over from a dead one leaves room for
// the media the dead node had on its disk (archive/continue_inflight.go).
type Position struct {
	Chunks int     `json:"chunks"`
	End    float64 `json:"end"`
}

// Positions reports the Position of every recording being written now (the ids of Live).
func (r *Recorder) Positions() map[string]Position {
	r.mu.Lock()
	sinks := make([]*Sink, 0, len(r.live))
	for _, s := range r.live {
		sinks = append(sinks, s)
	}
	r.mu.Unlock() // a sink's lock is taken before the recorder's (Close): never the other way
	out := make(map[string]Position, len(sinks))
	for _, s := range sinks {
		s.mu.Lock()
		p := Position{Chunks: s.m.Chunks, End: s.m.End}
		if s.cur != nil {
			p.End = s.cur.end
		}
		out[s.m.ID] = p
		s.mu.Unlock()
	}
	return out
}

// Room is what the recorder needs of a live room.
type Room interface {
	Name() string
	RequestKeyframe()
}

// NewID makes a recording id: sortable by time, unique across servers.
func NewID(room string, t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	clean := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, room)
	if len(clean) > 32 {
		clean = clean[:32]
	}
	return t.UTC().Format("20060102T150405Z") + "-" + clean + "-" + hex.EncodeToString(b[:])
}

type endedRecord struct {
	m  Manifest
	at time.Time
}

// Attach starts a recording of room and returns its sink (an sfu.Sink). The recording directory
// is created at the first packet, so a room that never sends media leaves nothing behind. When
// the room's previous recording ended less than ReconnectGrace ago, it is continued instead.
func (r *Recorder) Attach(room Room) *Sink {
	now := r.p.Now()
	r.mu.Lock()
	var ended, local *Manifest // the room's recent recording on this node; the one to continue
	if e, ok := r.ended[room.Name()]; ok && r.p.ReconnectGrace > 0 && now.Sub(e.at) <= r.p.ReconnectGrace {
		delete(r.ended, room.Name())
		m := e.m
		ended = &m
	}
	r.mu.Unlock()
	switch {
	case r.p.Continue != nil:
		if m, ok := r.p.Continue(room.Name(), ended); ok {
			local = &m
		}
	case ended != nil:
		m := *ended
		m.Resumed++
		local = &m
	}
	if local != nil {
		local.EndedAt = nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if local != nil {
		m := *local
		s := &Sink{r: r, room: room, dir: filepath.Join(r.p.Dir, m.ID), m: m, resume: true,
			tracks: map[int]*track{}, log: r.log.With("room", room.Name(), "recording", m.ID)}
		r.live[m.ID] = s
		return s
	}
	id := NewID(room.Name(), now)
	s := &Sink{
		r: r, room: room, dir: filepath.Join(r.p.Dir, id),
		m:      Manifest{ID: id, Room: room.Name(), StartedAt: now.UTC()},
		tracks: map[int]*track{},
		log:    r.log.With("room", room.Name(), "recording", id),
	}
	r.live[id] = s
	return s
}

func (r *Recorder) done(id string, ended *Manifest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, id)
	if ended != nil && r.p.ReconnectGrace > 0 {
		r.ended[ended.Room] = endedRecord{m: *ended, at: r.p.Now()}
		for room, e := range r.ended { // forget old ones
			if r.p.Now().Sub(e.at) > r.p.ReconnectGrace {
				delete(r.ended, room)
			}
		}
	}
}

var _ sfu.AgedSink = (*Sink)(nil)
