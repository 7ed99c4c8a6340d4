package hlsfeed

import (
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/relaycast/relaycast/livehls"
	"github.com/relaycast/relaycast/sfu"
)

// H.264 simulcast: the sink asks the SFU for every layer (sfu.LayerSink) and copies each to a
// rendition of its own, remuxed like `src` (the best layer), named by its height ("360p",
// "180p"), so the ladder costs no transcode at all: ffmpeg, if any, makes only the AAC. VP8
// (and any non-H.264) simulcast is declined: those rooms transcode their ladder from the best
// layer as before (one decode, and renditions whose keyframes line up).

var _ sfu.LayerSink = (*roomSink)(nil)

// layerOut is one simulcast layer other than the best, copied to its rendition.
type layerOut struct {
	info     sfu.LayerInfo
	t        *track
	v        Variant
	name     string
	lastKey  time.Duration
	keyAsked time.Time
}

// WantLayers implements sfu.LayerSink: every layer, when the room's simulcast video is H.264.
func (s *roomSink) WantLayers(layers []sfu.LayerInfo) bool {
	if !wantLayers(layers) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.layers = map[uint32]*layerOut{}
	for _, l := range layers {
		if !l.Best {
			s.layers[l.SSRC] = &layerOut{info: l}
		}
	}
	s.log.Info("live HLS copies every simulcast layer", "layers", len(layers))
	return true
}

// wantLayers: the feed takes every simulcast layer when they are all H.264 video.
func wantLayers(layers []sfu.LayerInfo) bool {
	for _, l := range layers {
		if l.Kind != webrtc.RTPCodecTypeVideo || !strings.EqualFold(l.Codec.MimeType, webrtc.MimeTypeH264) {
			return false
		}
	}
	return true
}

// WriteLayerRTP implements sfu.LayerSink: a packet of a layer other than the best.
func (s *roomSink) WriteLayerRTP(l sfu.LayerInfo, pkt *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	lo := s.layers[l.SSRC]
	if s.superseded || lo == nil {
		return nil // a layer it did not ask for (a tee's other sink did)
	}
	if !s.started {
		s.start()
	}
	if lo.t == nil { // anchored at arrival like the best layer (not after it: they are one picture)
		lo.t = &track{info: l.TrackInfo, anchor: max(s.f.p.Now().Sub(s.ss.st.Epoch()), s.floor+20*time.Millisecond), anchorRTP: pkt.Timestamp, clock: 90000, codec: videoCodecs[0],
			sb: samplebuilder.New(videoMaxLate, videoCodecs[0].depack(), 90000, samplebuilder.WithMaxTimeDelay(videoMaxDelay))}
	}
	lo.t.sb.Push(pkt.Clone())
	for smp := lo.t.sb.Pop(); smp != nil; smp = lo.t.sb.Pop() {
		pts, nalus, key, ok := lo.t.frame(smp, func(every time.Duration) { s.askLayerKey(lo, every) })
		if !ok {
			continue
		}
		s.ss.bump(pts)
		if key {
			lo.lastKey = pts
		}
		s.writeLayer(lo, pts, nalus)
	}
	return nil
}

// writeLayer writes one access unit of a layer to its rendition (made at its first keyframe,
// named by its height) and asks for the next keyframe on the segment grid.
func (s *roomSink) writeLayer(lo *layerOut, pts time.Duration, nalus [][]byte) {
	if lo.v == nil {
		lo.name = s.layerName(lo)
		rid := lo.info.RID
		v, err := s.ss.variant(livehls.VariantParams{Name: lo.name, Bandwidth: bitrateFor(lo.t.params.h)*12/10 + audioBitrate,
			Width: lo.t.params.w, Height: lo.t.params.h, RequestKeyframe: func() { s.ss.ownerLayerKeyframe(rid) }})
		if err != nil {
			s.log.Warn("live HLS: no rendition for a simulcast layer", "rid", rid, "err", err)
			return
		}
		lo.v = v
	}
	if err := lo.v.WriteH264(pts, pts, nalus); err != nil {
		s.log.Debug("live HLS write", "rid", lo.info.RID, "err", err)
	}
	if seg := s.f.p.Stream.SegmentTarget; pts-lo.lastKey >= seg-keyLead {
		s.askLayerKey(lo, seg/2)
	}
}

// layerName is "<height>p", or with the RID when another layer of the room has that name
// ("layer-<rid>" when the SPS gave no height).
func (s *roomSink) layerName(lo *layerOut) string {
	if lo.t.params.h <= 0 {
		return "layer-" + lo.info.RID
	}
	name := rungName(lo.t.params.h)
	for _, o := range s.layers {
		if o != lo && o.name == name {
			return name + "-" + lo.info.RID
		}
	}
	return name
}

// askLayerKey asks the layer for a keyframe unless the sink did less than every ago.
func (s *roomSink) askLayerKey(lo *layerOut, every time.Duration) {
	if now := time.Now(); now.Sub(lo.keyAsked) >= every {
		lo.keyAsked = now
		if k, ok := s.room.(sfu.LayerKeyframer); ok {
			k.RequestLayerKeyframe(lo.info.SSRC)
		}
	}
}

// layerKeyframe asks this session's layer with the RID for a keyframe (the packager's request
// for a layer's rendition).
func (s *roomSink) layerKeyframe(rid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lo := range s.layers {
		if lo.info.RID == rid {
			s.askLayerKey(lo, 0)
		}
	}
}

// ownerLayerKeyframe asks the current session's layer rid for a keyframe (none while ended).
func (s *streamState) ownerLayerKeyframe(rid string) {
	s.f.mu.Lock()
	o := s.owner
	s.f.mu.Unlock()
	if o != nil {
		o.layerKeyframe(rid)
	}
}
