package sfu

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// SubscribeParams describes a viewer's request.
type SubscribeParams struct {
	Room  string
	Offer string // SDP offer with recvonly audio and video
	// Quality is the viewer's simulcast layer choice ("" = auto). Rooms without simulcast ignore it.
	Quality Quality
	// OnLayer, when set, is called when what a viewer of a simulcast room is sent changes (a layer
	// switch, audio-only and back, layers starting or stopping). It is called from SFU goroutines
	// and must not block.
	OnLayer func(LayerState)
	// Relay marks another node's pull of the room (an edge, relay.go): it is sent every track
	// and every simulcast layer as a track of its own (RelayTrackID names them), each with every
	// VP9 spatial layer, and it is counted in Edges, not as a viewer. Quality is ignored.
	Relay bool
}

// Subscriber is one viewer's peer connection.
type Subscriber struct {
	id    string
	room  *room
	pc    *webrtc.PeerConnection
	downs []*downTrack
	view  *simView // the video of a simulcast room; nil otherwise
	relay bool     // another node's pull (SubscribeParams.Relay)

	once     sync.Once
	done     chan struct{}
	attachMu sync.Mutex
	attached bool
	send     sendState // direct.go
	rtcp     *rtcpIn   // the viewer's RTCP, inline (rtcpin.go); nil: rtcpLoop per track
	senders  []*webrtc.RTPSender
	srSlot   int // the sender-report scheduler's slot (srsched.go), guarded by its mu
}

// downTrack is one consumer's copy of an upTrack: a viewer's local track, or a sink's feed.
type downTrack struct {
	sub   *Subscriber
	feed  *sinkFeed
	up    *upTrack
	local *localTrack
	group *group
	guard resendGuard // the viewer's RTCP goroutine only
	view  *simView    // simulcast: the viewer's layer choice and stream rewriting
}

// ID is a random identifier of this viewing session.
func (sub *Subscriber) ID() string { return sub.id }

// Room is the room's name.
func (sub *Subscriber) Room() string { return sub.room.name }

// Done is closed when the viewer is gone (it left, its connection failed, or the room ended).
func (sub *Subscriber) Done() <-chan struct{} { return sub.done }

// AddICECandidate adds a trickled remote candidate.
func (sub *Subscriber) AddICECandidate(c webrtc.ICECandidateInit) error {
	if err := sub.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: candidate: %v", ErrBadOffer, err)
	}
	return nil
}

// Close disconnects the viewer. Idempotent.
func (sub *Subscriber) Close() error {
	sub.once.Do(func() {
		close(sub.done)
		sub.attachMu.Lock()
		if sub.attached {
			for _, d := range sub.downs {
				if d.view != nil {
					d.view.close()
					continue
				}
				d.up.removeViewer(d)
			}
			sub.viewerGauge().Add(-1)
		}
		sub.attached = false
		sub.attachMu.Unlock()
		sub.room.removeSub(sub)
		sub.room.s.sr.remove(sub)
		_ = sub.pc.Close()
	})
	return nil
}

// rtcpLoop reads a sender's RTCP on Pion's send path (a direct viewer's RTCP comes inline,
// rtcpin.go): keyframe requests go to the publisher (throttled), NACKed packets are resent from
// the track's shared cache.
func (sub *Subscriber) rtcpLoop(d *downTrack, sender *webrtc.RTPSender) {
	defer sub.room.s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		sub.handleRTCP(d, buf[:n])
	}
}

// attach starts forwarding once the viewer's connection is up, and asks for a keyframe.
func (sub *Subscriber) attach() {
	sub.attachMu.Lock()
	defer sub.attachMu.Unlock()
	select {
	case <-sub.done:
		return
	default:
	}
	if sub.attached {
		return
	}
	sub.attached = true
	sub.viewerGauge().Add(1)
	if sub.rtcp != nil {
		s := sub.room.s
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sub.rtcp.open(sub.senders)
		}()
	}
	sub.startSending()
	for _, d := range sub.downs {
		if d.view != nil {
			d.view.start()
			continue
		}
		d.up.addViewer(d)
		d.up.requestKeyframe()
	}
}

// Subscribe adds a viewer to a live room from its SDP offer and returns the answer.
func (s *SFU) Subscribe(ctx context.Context, p SubscribeParams) (*Subscriber, string, error) {
	s.mu.Lock()
	r := s.rooms[p.Room]
	s.mu.Unlock()
	if r == nil || !r.isLive() {
		return nil, "", ErrRoomNotLive
	}
	api, keys, in := s.viewerAPI(p.Offer)
	conf, err := s.certs.config()
	if err != nil {
		return nil, "", err
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	sub := &Subscriber{id: newID(), room: r, pc: pc, done: make(chan struct{}), relay: p.Relay, rtcp: in}
	sub.send.keys = keys
	if in != nil {
		in.sub = sub
	}
	fail := func(err error) (*Subscriber, string, error) {
		_ = pc.Close()
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: p.Offer}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	type pair struct {
		d *downTrack
		s *webrtc.RTPSender
	}
	var senders []pair
	for _, u := range r.snapshotTracks() {
		if p.Relay {
			for _, layer := range relayLayers(u) {
				local := newLocalTrack(layer.codec, layer.kind, RelayTrackID(layer.info.Index, layer.rank, layer.rid), "relaycast-"+r.name)
				sender, err := pc.AddTrack(local)
				if err != nil {
					return fail(fmt.Errorf("%w: %v", ErrUnsupported, err))
				}
				d := &downTrack{sub: sub, up: layer, local: local}
				sub.downs = append(sub.downs, d)
				senders = append(senders, pair{d, sender})
			}
			continue
		}
		local := newLocalTrack(u.codec, u.kind, u.kind.String(), "relaycast-"+r.name)
		sender, err := pc.AddTrack(local)
		if err != nil {
			return fail(fmt.Errorf("%w: %v", ErrUnsupported, err))
		}
		d := &downTrack{sub: sub, up: u, local: local}
		if u.sim != nil {
			q, err := ParseQuality(string(p.Quality))
			if err != nil {
				return fail(err)
			}
			d.view = &simView{sub: sub, sim: u.sim, local: local, codec: u.sim.codec, clock: float64(u.codec.ClockRate),
				members: map[*upTrack]*downTrack{}, pref: q, onLayer: p.OnLayer,
				bw: bandwidth{est: float64(s.cfg.SimulcastStartBitrate)}}
			sub.view = d.view
		} else if u.kind == webrtc.RTPCodecTypeVideo && kindOfCodec(u.codec.MimeType) == codecVP9 {
			// VP9 may carry spatial layers (SVC, svc.go): the viewer's choice filters them.
			q, err := ParseQuality(string(p.Quality))
			if err != nil {
				return fail(err)
			}
			d.view = &simView{sub: sub, local: local, codec: codecVP9, clock: float64(u.codec.ClockRate),
				pref: q, onLayer: p.OnLayer, down: d, svc: newSVCFilter(u, q)}
			sub.view = d.view
		}
		sub.downs = append(sub.downs, d)
		senders = append(senders, pair{d, sender})
	}
	if len(sub.downs) == 0 {
		return fail(ErrRoomNotLive)
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			sub.attach()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go sub.Close()
		case webrtc.PeerConnectionStateDisconnected:
			// Another node's relay pull silent for ICEDisconnectedTimeout is a dead edge (its
			// viewers are already watching elsewhere; a live one pulls again): stop sending to
			// it now rather than after ICEFailedTimeout more. A viewer gets the grace.
			if p.Relay {
				go sub.Close()
			}
		}
	})
	answer, err := negotiate(ctx, pc)
	if err != nil {
		return fail(err)
	}
	if !answerSends(pc) {
		return fail(fmt.Errorf("%w: the offer has no recvonly audio/video this room can send", ErrUnsupported))
	}
	if !r.addSub(sub) {
		return fail(ErrRoomNotLive)
	}
	time.AfterFunc(s.cfg.ConnectTimeout, func() {
		sub.attachMu.Lock()
		ok := sub.attached
		sub.attachMu.Unlock()
		if !ok {
			_ = sub.Close()
		}
	})
	for _, x := range senders {
		if x.d.view != nil && x.d.view.svc == nil {
			for _, e := range x.s.GetParameters().HeaderExtensions {
				if e.URI == sdp.ABSSendTimeURI && e.ID > 0 && e.ID < 15 {
					x.d.view.mu.Lock()
					x.d.view.absID = uint8(e.ID)
					x.d.view.mu.Unlock()
				}
			}
		}
	}
	if in != nil {
		for _, x := range senders {
			in.add(x.d, x.s)
			sub.senders = append(sub.senders, x.s)
		}
		return sub, answer, nil
	}
	s.wg.Add(len(senders))
	for _, x := range senders {
		go sub.rtcpLoop(x.d, x.s)
	}
	return sub, answer, nil
}

// answerSends reports whether at least one of our tracks made it into the answer.
func answerSends(pc *webrtc.PeerConnection) bool {
	for _, t := range pc.GetTransceivers() {
		if t.Sender() != nil && t.Sender().Track() != nil && t.Mid() != "" {
			return true
		}
	}
	return false
}

// viewerGauge is the SFU-wide gauge the subscriber counts in once attached.
func (sub *Subscriber) viewerGauge() *atomic.Int64 {
	if sub.relay {
		return &sub.room.s.stats.edges
	}
	return &sub.room.s.stats.viewers
}

// SetQuality changes the viewer's simulcast layer choice; the switch happens at the next keyframe
// of the layer. Rooms without simulcast accept and ignore it.
func (sub *Subscriber) SetQuality(q Quality) error {
	q, err := ParseQuality(string(q))
	if err != nil {
		return err
	}
	if sub.view != nil {
		sub.view.setQuality(q)
	}
	return nil
}

// Layer reports what the viewer is sent of a simulcast room (or a VP9 SVC one); ok is false
// without layers.
func (sub *Subscriber) Layer() (st LayerState, ok bool) {
	if sub.view == nil {
		return LayerState{}, false
	}
	st = sub.view.State()
	if sub.view.svc != nil && len(st.Layers) == 0 {
		return LayerState{}, false // VP9 without spatial layers (yet): nothing to choose
	}
	return st, true
}
