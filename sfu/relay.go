package sfu

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Relays between nodes (docs/CLUSTER.md, "Edges"). On the origin, another node's pull is a
// subscriber with SubscribeParams.Relay: it gets every track of the room and every simulcast
// layer as a track of its own, named by RelayTrackID, with every VP9 spatial layer, through the
// same fan-out as a viewer; its keyframe requests are throttled like a viewer's and its NACKs are
// answered from the track's cache. On the edge, SFU.Relay makes a live room of the tracks the pull
// receives (IncomingTracks whose RID is the layer's): the edge's viewers choose layers, are
// answered NACKs from the edge's caches and send keyframe requests up through the track's
// KeyframeRequester, all exactly as on the origin.

// RelayParams describes a room fed by a pull from another node.
type RelayParams struct {
	Room string
	// Tracks are the room's tracks; simulcast layers are tracks of their own with their RID and
	// together form the room's one simulcast track. A track that implements KeyframeRequester is
	// asked for keyframes (throttled by Config.KeyframeInterval); one that implements io.Closer is
	// closed when the room ends. When the Read of any track fails, the room ends.
	Tracks []IncomingTrack
	// Order lists the simulcast RIDs lowest quality first (as the origin ranked them, see
	// ParseRelayTrackID); empty ranks them by their usual names (q/h/f, l/m/h, ...).
	Order []string
	// Lost, when set, names the end when a track's Read fails (the pull broke): it is called once,
	// from that track's goroutine, before the viewers are told; "" keeps "relay lost". The cluster
	// asks the origin whether the room is still live there (then the show goes on elsewhere and
	// its viewers should wait, not leave).
	Lost func() string
}

// Relay is a room fed by a pull from another node. It has no publisher: it is not recorded here
// (the origin records) and a publisher arriving on this node for the room replaces it.
type Relay struct {
	room *room
}

// Relay makes a live room of tracks pulled from another node. It fails with ErrRoomBusy when
// the room is already live here, ErrUnsupported without tracks and ErrClosed after Close.
func (s *SFU) Relay(ctx context.Context, p RelayParams) (*Relay, error) {
	if len(p.Tracks) == 0 {
		return nil, fmt.Errorf("%w: a relay needs at least one track", ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := newRoom(s, p.Room, "", "")
	r.relay = true
	r.relayOrder = append([]string(nil), p.Order...)
	if p.Lost != nil {
		var once sync.Once
		reason := ""
		r.relayLost = func() string {
			once.Do(func() { reason = p.Lost() })
			return reason
		}
	}
	r.expected = len(p.Tracks)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.rooms[p.Room] != nil {
		s.mu.Unlock()
		return nil, ErrRoomBusy
	}
	s.rooms[p.Room] = r
	s.stats.relays.Add(1)
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		<-r.done
		s.stats.relays.Add(-1)
	}()
	for _, t := range p.Tracks {
		r.addTrack(t, nil)
	}
	s.log.Info("relay started", "room", p.Room, "tracks", len(p.Tracks))
	return &Relay{room: r}, nil
}

// AddTrack feeds one more track into the room (a layer that arrived late).
func (rl *Relay) AddTrack(t IncomingTrack) { rl.room.addTrack(t, nil) }

// Done is closed when the room has ended (Close, a track's Read failed, a publisher replaced
// it, EndRoom, or the SFU closed).
func (rl *Relay) Done() <-chan struct{} { return rl.room.done }

// End ends the room with a reason: viewers get the normal end.
func (rl *Relay) End(reason string) { rl.room.end(reason) }

// Close ends the room ("relay stopped"). Idempotent.
func (rl *Relay) Close() error {
	rl.room.end("relay stopped")
	return nil
}

// RelayTrackID is the track ID (the msid's track part) the origin gives one track of a relay
// pull: "relay_<slot>_<rank>_<rid>" (slot: the room's track index; rank: the simulcast layer's
// position, lowest quality first, 0 for a plain track; rid: "" for a plain track).
func RelayTrackID(slot, rank int, rid string) string {
	return "relay_" + strconv.Itoa(slot) + "_" + strconv.Itoa(rank) + "_" + rid
}

// ParseRelayTrackID reads a RelayTrackID; ok is false for any other ID.
func ParseRelayTrackID(id string) (slot, rank int, rid string, ok bool) {
	rest, found := strings.CutPrefix(id, "relay_")
	if !found {
		return 0, 0, "", false
	}
	f := strings.SplitN(rest, "_", 3)
	if len(f) != 3 {
		return 0, 0, "", false
	}
	slot, err1 := strconv.Atoi(f[0])
	rank, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || slot < 0 || rank < 0 {
		return 0, 0, "", false
	}
	return slot, rank, f[2], true
}

// relayLayers is what a relay pull gets of one room track: every simulcast layer that arrived,
// lowest first, or the track itself.
func relayLayers(u *upTrack) []*upTrack {
	if u.sim == nil {
		return []*upTrack{u}
	}
	u.sim.mu.Lock()
	defer u.sim.mu.Unlock()
	return append([]*upTrack(nil), u.sim.layers...)
}

// PulledTrack is a track a relay pull received (a Pion track whose ID is a RelayTrackID) as an
// IncomingTrack for SFU.Relay: its RID is the layer's, a keyframe request is a PLI on the pull's
// peer connection (to the origin, which throttles it like a viewer's), and Close closes that
// peer connection (so a room that ends stops its pull). Losses on the pull itself are NACKed by
// the pull's own NACK generator, if its API has one.
type PulledTrack struct {
	t          *webrtc.TrackRemote
	pc         *webrtc.PeerConnection
	slot, rank int
	rid        string
}

// NewPulledTrack adapts t, received on the pull pc; ok is false when t's ID is not a RelayTrackID.
func NewPulledTrack(t *webrtc.TrackRemote, pc *webrtc.PeerConnection) (*PulledTrack, bool) {
	slot, rank, rid, ok := ParseRelayTrackID(t.ID())
	if !ok {
		return nil, false
	}
	return &PulledTrack{t: t, pc: pc, slot: slot, rank: rank, rid: rid}, true
}

func (p *PulledTrack) Read(b []byte) (int, error) {
	n, _, err := p.t.Read(b)
	return n, err
}
func (p *PulledTrack) Codec() webrtc.RTPCodecCapability { return p.t.Codec().RTPCodecCapability }
func (p *PulledTrack) Kind() webrtc.RTPCodecType        { return p.t.Kind() }
func (p *PulledTrack) RID() string                      { return p.rid }
func (p *PulledTrack) SSRC() webrtc.SSRC                { return p.t.SSRC() }

// Slot is the origin's track index; Rank the simulcast layer's position, lowest quality first.
func (p *PulledTrack) Slot() int { return p.slot }
func (p *PulledTrack) Rank() int { return p.rank }

// RequestKeyframe sends a PLI for the track upstream (KeyframeRequester).
func (p *PulledTrack) RequestKeyframe() error {
	return p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(p.t.SSRC())}})
}

// Close closes the pull's peer connection (io.Closer): every track of the pull ends.
func (p *PulledTrack) Close() error { return p.pc.Close() }

// RelayOrder is RelayParams.Order for pulled tracks: their simulcast RIDs, lowest rank first.
func RelayOrder(tracks []*PulledTrack) []string {
	ts := append([]*PulledTrack(nil), tracks...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].rank < ts[j].rank })
	var out []string
	for _, t := range ts {
		if t.rid != "" {
			out = append(out, t.rid)
		}
	}
	return out
}

// RelayTrackCount is the number of tracks an origin's answer to a relay pull sends: its media
// sections whose msid names a RelayTrackID. The pull waits for that many tracks.
func RelayTrackCount(answer string) int {
	var sd sdp.SessionDescription
	if sd.UnmarshalString(answer) != nil {
		return 0
	}
	n := 0
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Port.Value == 0 {
			continue
		}
		if msid, ok := m.Attribute("msid"); ok {
			if f := strings.Fields(msid); len(f) == 2 {
				if _, _, _, ok := ParseRelayTrackID(f[1]); ok {
					n++
				}
			}
		}
	}
	return n
}

// RegisterViewerCodecs registers in m the codecs the SFU offers its viewers (relaycast's list,
// without RTX), so a relay pull's client offers exactly what an origin can send.
func RegisterViewerCodecs(m *webrtc.MediaEngine) error { return registerCodecs(m, false, false) }
