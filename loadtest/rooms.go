package loadtest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/relaycast/relaycast/client"
)

// The many-rooms scenario (issue 16: a platform's evening of small shows): Params.Rooms rooms,
// each with its own synthetic publisher, and the synthetic viewers spread over them round robin
// (viewer i watches room i mod Rooms; --viewers-per-room M makes Viewers = Rooms × M). The rooms
// are named Room-1 … Room-N; one publish token must be valid for all of them (a "*" token:
// relaycast token --room '*' --admin). Every publisher sends the same encoded loop (encoded
// once), each frame stamped with its own send time, so the latency and loss figures are every
// room's; the report adds one line per room (RoomSummary) beside the totals.

// RoomName is the name of room i (0-based) of the run: Room itself for a one-room run.
func (p Params) RoomName(i int) string {
	if p.Rooms <= 1 {
		return p.Room
	}
	return p.Room + "-" + strconv.Itoa(i+1)
}

// roomOf is the room index viewer i watches.
func (p Params) roomOf(i int) int {
	if p.Rooms <= 1 {
		return 0
	}
	return i % p.Rooms
}

// RoomSummary is one room's viewers in the hold window.
type RoomSummary struct {
	Room             string  `json:"room"`
	Target           int     `json:"target"`
	Connected        int     `json:"connected"`
	Packets          int64   `json:"packets"`
	Lost             int64   `json:"lost"`
	LossPct          float64 `json:"loss_pct"`
	FirstKeyframeP95 float64 `json:"first_keyframe_p95_ms"`
}

// publishers publishes every room of the run (synthetic or file publishers), each over WHIP.
// close ends their sessions.
type publishers struct {
	pubs []pionPublisher
	locs []string
	p    Params
}

func startPublishers(ctx context.Context, p Params) (*publishers, error) {
	ps := &publishers{p: p}
	var loop *client.Loop
	if p.Publisher == PublisherSynthetic {
		var err error
		if loop, err = encodeLoop(ctx, p.FFmpegPath, p.Bitrate, p.Simulcast); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPublisher, err)
		}
	}
	for i := range max(p.Rooms, 1) {
		pub, loc, err := publishPion(ctx, p, p.RoomName(i), loop)
		if err != nil {
			ps.close()
			return nil, fmt.Errorf("room %s: %w", p.RoomName(i), err)
		}
		ps.pubs, ps.locs = append(ps.pubs, pub), append(ps.locs, loc)
	}
	return ps, nil
}

func (ps *publishers) close() {
	for i, pub := range ps.pubs {
		dctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = client.Delete(dctx, nil, ps.locs[i], ps.p.Token)
		cancel()
		_ = pub.Close()
	}
}

// roomSummaries is each room's figures over the hold window (nil for a one-room run).
func (s *synthPool) roomSummaries(mark map[*synthViewer]client.Stats) []RoomSummary {
	if s.p.Rooms <= 1 {
		return nil
	}
	out := make([]RoomSummary, s.p.Rooms)
	keys := make([]hist, s.p.Rooms)
	for i := range out {
		out[i].Room = s.p.RoomName(i)
	}
	for i := range s.p.Viewers {
		out[s.p.roomOf(i)].Target++
	}
	s.mu.Lock()
	vs := s.viewers
	s.mu.Unlock()
	for _, sv := range vs {
		r := &out[sv.room]
		st, m0 := sv.v.Stats(), mark[sv]
		r.Connected++
		r.Packets += st.Packets - m0.Packets
		r.Lost += st.Lost - m0.Lost
		if st.FirstKeyframe > 0 {
			keys[sv.room].Record(st.FirstKeyframe)
		}
	}
	for i := range out {
		out[i].LossPct = round3(lossOf(out[i].Packets, out[i].Lost))
		out[i].FirstKeyframeP95 = keys[i].snapshot().dist().P95
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LossPct > out[j].LossPct }) // worst first
	return out
}

// WithDefaults is p with the documented defaults filled in, as Run uses it.
func (p Params) WithDefaults() Params { return p.withDefaults() }
