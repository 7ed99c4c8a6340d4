package recorder

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// A full data disk does not end a recording (docs/RELIABILITY.md, "Disk full"): the recorder
// pauses — the chunk being written when the disk filled is dropped (its index is used again), the
// chunks closed before it stay as they are and go on to the archive — and drops the packets until
// the disk has room again; it looks at most every fullProbe, on a packet (no timer). Then the next
// keyframe opens the next chunk: the recording goes on, with a gap in its timeline for the time it
// could not write. Other disk errors (a directory that cannot be made, a read-only disk) still
// stop the recording.

const (
	// fullProbe is how often a paused recording looks for room.
	fullProbe = time.Second
	// DefaultResumeFree is the room a paused recording waits for (Params.ResumeFree): enough for
	// a few chunks.
	DefaultResumeFree = 64 << 20
)

// diskFull reports whether err is the disk (or a quota) being full.
func diskFull(err error) bool {
	return errors.Is(err, ErrDisk) && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT))
}

// freeBytes is the room left for an unprivileged writer on the filesystem of dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// pause stops writing after the disk filled: the unfinished chunks are dropped (a chunk cut for
// video but still taking late audio is closed if the disk lets it), the packets are dropped
// from now on. Called with s.mu held.
func (s *Sink) pause(err error) {
	s.paused = true
	s.probed = s.r.p.Now()
	s.r.pauses.Add(1)
	if p := s.prev; p != nil {
		if cerr := s.closeChunk(p, p.end); cerr != nil {
			s.dropChunk(p)
		}
		s.prev = nil
	}
	if c := s.cur; c != nil {
		s.closeFiles(c)
		s.dropChunk(c)
		s.cur = nil
	}
	s.audioQ = nil
	for _, t := range s.tracks {
		t.broken = false
	}
	s.log.Error("the data disk is full: recording paused (the live stream goes on); it resumes when there is room",
		"err", err, "chunks_kept", s.m.Chunks)
	if h := s.r.p.Hooks.Paused; h != nil {
		h(s.m, err)
	}
}

// tryResume looks (at most every fullProbe) whether the disk has room again; if so the recording
// goes on (the next keyframe opens the next chunk). Called with s.mu held.
func (s *Sink) tryResume() bool {
	now := s.r.p.Now()
	if now.Sub(s.probed) < fullProbe {
		return false
	}
	s.probed = now
	free, err := freeBytes(s.r.Dir())
	if err != nil || free < uint64(s.r.p.ResumeFree) {
		return false
	}
	s.paused = false
	s.log.Info("the data disk has room again: recording resumed", "free_bytes", free, "next_chunk", s.m.Chunks)
	if h := s.r.p.Hooks.Resumed; h != nil {
		h(s.m)
	}
	s.askKeyframe(0)
	return true
}

// closeFiles closes a chunk's open media files (errors ignored: the chunk is closed or dropped).
func (s *Sink) closeFiles(c *chunk) {
	if c.ivf != nil {
		_ = c.ivf.close()
		c.ivf = nil
	}
	if c.ogg != nil {
		_ = c.ogg.close()
		c.ogg = nil
	}
}

// dropChunk removes an unfinished chunk (freeing its room) and gives its index back.
func (s *Sink) dropChunk(c *chunk) {
	_ = os.RemoveAll(c.dir)
	if s.m.Chunks > c.info.Index {
		s.m.Chunks = c.info.Index
	}
	s.log.Warn("chunk dropped: the disk filled while it was written", "chunk", c.info.Index, "start", c.info.Start)
}
