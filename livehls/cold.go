package livehls

import (
	"net/http"
	"time"
)

// A stream with no segment yet — a room's live HLS that just started: on demand, at the first
// request for the room (docs/LLHLS.md, "On demand"), or in the first seconds of a room — holds
// the requests that need one: the multivariant playlist (it lists the renditions that have
// media; waiting for the first segment lets the renditions the room's ffmpeg makes, which start
// a little after the copied one, be in it too) and a request for a rendition the stream does not
// have yet. Bounded like a blocking reload (three target durations, capped per client), then
// 503 with Retry-After.

// firstSegmentParts: a variant's first segment closes at the first keyframe after this many
// part targets (1 s with the default 333 ms parts) instead of the segment target, so that a
// stream that just started has a playlist sooner (a publisher that answers keyframe requests is
// asked for one then, as at the segment target).
const firstSegmentParts = 3

// FirstSegmentTarget is the target of a variant's first segment under c (see firstSegmentParts):
// a source that places keyframes itself (the live HLS transcoder) puts its second one there.
func (c Config) FirstSegmentTarget() time.Duration {
	c = c.withDefaults()
	return min(c.SegmentTarget, firstSegmentParts*c.PartTarget)
}

// retryCold is the Retry-After (s) of a 503 for a stream that has no segment yet.
const retryCold = "2"

// hasSegment: a variant of the stream has a complete segment, or the stream ended (s.mu held).
func (s *Stream) hasSegment() bool {
	if s.st.ended {
		return true
	}
	for _, v := range s.variants {
		if len(v.segs) > 0 {
			return true
		}
	}
	return false
}

// hasMedia: a variant of the stream has a part, or the stream ended (s.mu held).
func (s *Stream) hasMedia() bool {
	if s.st.ended {
		return true
	}
	for _, v := range s.variants {
		if len(v.segs) > 0 || (v.open != nil && len(v.open.parts) > 0) {
			return true
		}
	}
	return false
}

// waitSegment holds r until the stream has a segment (waitOK), as Server.wait does for a part.
func (s *Server) waitSegment(w http.ResponseWriter, r *http.Request, st *Stream) waitResult {
	return s.waitUntil(w, r, st, func() (bool, bool) { return st.hasSegment(), false })
}

// coldUnavailable answers a request that waited for a stream's first segment in vain.
func coldUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryCold)
	jsonError(w, http.StatusServiceUnavailable, "the room's live HLS has no segment yet")
}

// variantNamed is the stream's rendition name (nil when it has none of that name), and whether
// the stream has media yet.
func (s *Stream) variantNamed(name string) (*Variant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.variants {
		if x.p.Name == name {
			return x, true
		}
	}
	return nil, s.hasMedia()
}
