package archive

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/recorder"
)

// The media a killed node had on its disk but had not claimed yet (docs/CLUSTER.md "Recording
// across nodes", rule 3): the chunk it was writing (and one it had closed but not claimed yet,
// its upload queue being behind). SIGKILL leaves those files readable up to their last whole
// frame (recorder: one write(2) per IVF frame and Ogg page), so the node's reconciler can
// upload them when it comes back, if their indices are still its own.
//
// Every second the node recording a room says how far it got (the beat):
//
//	relaycast:rec:at:{id}  STRING inFlight JSON, PX ReconnectGrace (as the room key)
//
// A node taking over a part that did not end cleanly leaves the indices the dead node may have
// written in the dead node's part, as holes: from the first unclaimed index to the chunk open at
// the last beat, plus one (a cut after the last beat). Its own part starts after them, and its
// timeline after the media the dead node can have written: the end at the last beat plus
// inFlightSlack (the beat interval and a margin). A reserved hole the dead node fills later joins
// the recording in order (the finalize takes late holes); one that never comes is skipped at
// once, as any hole: the recording becomes ready without it. The timeline jumps at the seam (the
// slack not used), which the playlists mark with a discontinuity (transcode/playlist.go).
const inFlightSlack = beatEvery + 250*time.Millisecond

// inFlight is relaycast:rec:at:{id}: the position of the current part's node at its last beat.
type inFlight struct {
	Node   string  `json:"node"`
	Part   int     `json:"part"`
	Chunks int     `json:"chunks"` // chunks opened (the open one's index + 1)
	End    float64 `json:"end"`    // timeline end of the media written, seconds
}

func atKey(id string) string { return recKeyPrefix + "at:" + id }

// position reads the last beat's position of recording id (nil when there is none).
func (c *continuation) position(ctx context.Context, id string) *inFlight {
	b, err := c.rdb.Get(ctx, atKey(id)).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			c.log.Debug("cannot read the recording's position", "recording", id, "err", err)
		}
		return nil
	}
	var at inFlight
	if json.Unmarshal(b, &at) != nil {
		return nil
	}
	return &at
}

// notePosition queues the current part's position in pipe (the beat).
func (c *continuation) notePosition(ctx context.Context, pipe redis.Pipeliner, st *recState, p recorder.Position) {
	b, _ := json.Marshal(inFlight{Node: c.node, Part: st.Part, Chunks: p.Chunks, End: p.End})
	pipe.Set(ctx, atKey(st.ID), b, c.grace)
}

// reserveInFlight, in a takeover of the open part of st that did not end cleanly, leaves the
// indices its node may have written unclaimed in that part as holes and moves the timeline past
// the media it can have written (at is its last beat). It returns the first index of the new
// part.
func reserveInFlight(st *recState, at *inFlight) int {
	cur := st.current()
	cut := max(st.Next, cur.First)
	if st.Ended || at == nil || at.Node != cur.Node || at.Part != st.Part {
		return cut
	}
	to := max(cut, at.Chunks+1)
	for i := cut; i < to; i++ {
		if !slices.Contains(st.Holes, i) {
			st.Holes = append(st.Holes, i)
		}
	}
	st.End = max(st.End, at.End+inFlightSlack.Seconds())
	return to
}
