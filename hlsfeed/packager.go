package hlsfeed

import (
	"time"

	"github.com/relaycast/relaycast/livehls"
)

// The packager as the feed uses it (a unit seam: the tests give a fake; LiveHLS adapts the real
// *livehls.Server). Declared here, by its consumer.

// Packager holds the rooms' streams (livehls.Server).
type Packager interface {
	// Open returns the room's lingering stream (the publisher is back) or a new one.
	Open(room string, cfg livehls.Config) Stream
	// Ended says the room's stream st ended (after st.End): it lingers, then goes.
	Ended(room string, st Stream)
	// Remove ends the room's stream st and removes it at once (no linger): the room's live
	// HLS stopped while the room goes on; the next Open makes a new stream.
	Remove(room string, st Stream)
}

// Stream is one room's output (livehls.Stream). Values must be comparable: Open returning
// the same stream again must give an equal value (the feed keeps that stream's variants).
type Stream interface {
	Epoch() time.Time
	AddVariant(p livehls.VariantParams) (Variant, error)
	SetAudio(p livehls.AudioParams) error
	WriteAAC(pts time.Duration, frames [][]byte) error
	Discontinuity()
	End()
}

// Variant is one rendition's writer (livehls.Variant).
type Variant interface {
	WriteH264(pts, dts time.Duration, nalus [][]byte) error
}

// LiveHLS adapts the packager of package livehls.
func LiveHLS(s *livehls.Server) Packager { return liveServer{s} }

type liveServer struct{ s *livehls.Server }

func (l liveServer) Open(room string, cfg livehls.Config) Stream {
	return liveStream{l.s.Open(room, cfg)}
}

func (l liveServer) Ended(room string, st Stream) {
	if ls, ok := st.(liveStream); ok {
		l.s.Ended(room, ls.st)
	}
}

func (l liveServer) Remove(room string, st Stream) {
	if ls, ok := st.(liveStream); ok {
		l.s.Remove(room, ls.st)
	}
}

type liveStream struct{ st *livehls.Stream }

func (l liveStream) Epoch() time.Time { return l.st.Epoch() }

func (l liveStream) AddVariant(p livehls.VariantParams) (Variant, error) {
	v, err := l.st.AddVariant(p)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (l liveStream) SetAudio(p livehls.AudioParams) error { return l.st.SetAudio(p) }

func (l liveStream) WriteAAC(pts time.Duration, frames [][]byte) error {
	return l.st.WriteAAC(pts, frames)
}

func (l liveStream) Discontinuity() { l.st.Discontinuity() }
func (l liveStream) End()           { l.st.End() }
