package sfu

import (
	"slices"

	"github.com/pion/rtp"
)

// A sink gets one layer of a simulcast video: the room's best (what the recorder records). A
// LayerSink may ask for the others too (the live HLS makes a rendition of each H.264 layer,
// copied, instead of transcoding smaller ones from the best). Opt-in and off the viewers' path:
// a wanted layer gets one more downTrack in its sink list, as the best layer has for every
// sink, so the read loop's per-packet work for viewers is unchanged; the sink's own goroutine
// tells the extra layers' packets apart by their SSRC and hands them to WriteLayerRTP. The
// best layer still comes through WriteRTP (and the replay at attach, sinkreplay.go); the other
// layers start live, at their next keyframe, which is asked for at attach. Layers that arrive
// after the sink attached are not added (a late track is not added to any sink either).

// LayerInfo describes one simulcast layer of a room's video track.
type LayerInfo struct {
	// TrackInfo is the layer's: Index is the video track's (the same for every layer, and the
	// TrackInfo.Index the best layer's packets carry through WriteRTP), SSRC the layer's own.
	TrackInfo
	RID  string
	Rank int  // among the track's layers, 0 = the lowest quality
	Best bool // the layer the sink gets through WriteRTP
}

// LayerSink is a Sink that may get every simulcast layer of the room's video.
type LayerSink interface {
	Sink
	// WantLayers is called once, when the sink attaches to a room with simulcast video, with
	// the layers that arrived (lowest first, the best one among them). True: the layers other
	// than the best come through WriteLayerRTP, from the same goroutine as WriteRTP.
	WantLayers(layers []LayerInfo) bool
	// WriteLayerRTP is WriteRTP for a layer other than the best; the same rules apply. A sink
	// behind a tee (several sinks as one) may get layers it declined: it drops them.
	WriteLayerRTP(layer LayerInfo, pkt *rtp.Packet) error
}

// LayerKeyframer is what a LiveRoom also offers a LayerSink: a keyframe request for one layer
// (RequestKeyframe asks the best layers only). Throttled like every keyframe request.
type LayerKeyframer interface {
	RequestLayerKeyframe(ssrc uint32)
}

// sinkLayers is what a sinkFeed of a LayerSink keeps of the extra layers (set before its run
// starts, then read by run alone).
type sinkLayers struct {
	sink   LayerSink
	bySSRC map[uint32]LayerInfo
	ups    []*upTrack
}

// wantedLayers asks a LayerSink which simulcast layers it wants beside the best ones (nil for
// other sinks, rooms without simulcast, or a sink that wants none).
func (r *room) wantedLayers(sink Sink) *sinkLayers {
	ls, ok := sink.(LayerSink)
	if !ok {
		return nil
	}
	sims, bests := r.simulcasts()
	best := map[*upTrack]bool{}
	for _, u := range bests {
		best[u] = true
	}
	var infos []LayerInfo
	var ups []*upTrack
	for _, sim := range sims {
		sim.mu.Lock()
		for _, u := range sim.layers {
			infos = append(infos, LayerInfo{TrackInfo: u.info, RID: u.rid, Rank: u.rank, Best: best[u]})
			ups = append(ups, u)
		}
		sim.mu.Unlock()
	}
	if len(infos) < 2 || !ls.WantLayers(infos) {
		return nil
	}
	l := &sinkLayers{sink: ls, bySSRC: map[uint32]LayerInfo{}}
	for i, in := range infos {
		if !in.Best {
			l.bySSRC[in.SSRC] = in
			l.ups = append(l.ups, ups[i])
		}
	}
	return l
}

// downs returns the sink's downTracks on the extra layers (attached with the others).
func (l *sinkLayers) downs(f *sinkFeed) []*downTrack {
	out := make([]*downTrack, 0, len(l.ups))
	for _, u := range l.ups {
		out = append(out, &downTrack{up: u, feed: f})
	}
	return out
}

// requestKeyframes asks each extra layer for a keyframe (the sink starts there).
func (l *sinkLayers) requestKeyframes() {
	for _, u := range l.ups {
		u.requestKeyframe()
	}
}

// toLayer writes sp through WriteLayerRTP when it is an extra layer's packet; false for the
// packets WriteRTP gets. Only the sink's goroutine calls it.
func (f *sinkFeed) toLayer(sp sinkPacket) bool {
	if f.layers == nil {
		return false
	}
	in, ok := f.layers.bySSRC[sp.info.SSRC]
	if !ok || sp.info.Index != in.Index {
		return false
	}
	if err := f.layers.sink.WriteLayerRTP(in, sp.pkt); err != nil {
		f.room.s.log.Warn("sink write failed", "room", f.room.name, "rid", in.RID, "err", err)
	}
	return true
}

// simulcasts returns the room's simulcast tracks and, for each, the layer sinks get.
func (r *room) simulcasts() (sims []*simulcast, best []*upTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sim := range r.sims {
		sims, best = append(sims, sim), append(best, r.tracks[sim.slot])
	}
	return sims, best
}

// RequestLayerKeyframe asks one simulcast layer (by its SSRC) for a keyframe (LayerKeyframer).
func (r *room) RequestLayerKeyframe(ssrc uint32) {
	sims, _ := r.simulcasts()
	for _, sim := range sims {
		sim.mu.Lock()
		i := slices.IndexFunc(sim.layers, func(u *upTrack) bool { return u.info.SSRC == ssrc })
		var u *upTrack
		if i >= 0 {
			u = sim.layers[i]
		}
		sim.mu.Unlock()
		if u != nil {
			u.requestKeyframe()
			return
		}
	}
}
