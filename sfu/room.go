package sfu

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// room is one broadcast: a publisher, its incoming tracks and the viewers.
type room struct {
	s       *SFU
	name    string
	owner   string
	subject string

	mu          sync.Mutex
	pub         *Publisher
	tracks      []*upTrack // one per published track; for simulcast, the layer sinks get
	expected    int        // tracks (simulcast: layers) the offer announced
	arrived     int
	rids        map[string][]string // simulcast RIDs announced per mid
	sims        map[*webrtc.RTPReceiver]*simulcast
	done        chan struct{} // closed when the room ends
	live        bool
	since       time.Time
	subs        map[*Subscriber]struct{}
	ended       bool
	liveTimer   *time.Timer
	lastViewers int
	sinks       []*sinkFeed
	closers     []io.Closer // incoming tracks to close when the room ends (IncomingTrack)
	edges       int         // subscribers that are relay pulls (SubscribeParams.Relay), in subs

	// relay: the room is fed by SFU.Relay (an edge's pull), not a publisher; set before the room
	// is registered, read without the lock. relayOrder ranks its simulcast RIDs.
	relay      bool
	relayOrder []string
	relayLost  func() string // RelayParams.Lost, once
}

// endLost ends a relay room whose pull broke, with the reason RelayParams.Lost gives.
func (r *room) endLost() {
	reason := "relay lost"
	if r.relayLost != nil {
		if why := r.relayLost(); why != "" {
			reason = why
		}
	}
	r.end(reason)
}

// newRoom builds a room that is not registered yet (Publish claims its name).
func newRoom(s *SFU, name, owner, subject string) *room {
	return &room{s: s, name: name, owner: owner, subject: subject, subs: map[*Subscriber]struct{}{},
		sims: map[*webrtc.RTPReceiver]*simulcast{}, done: make(chan struct{})}
}

func (r *room) isLive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live && !r.ended
}

func (r *room) info() (RoomInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.live || r.ended {
		return RoomInfo{}, false
	}
	codecs := make([]string, 0, len(r.tracks))
	for _, t := range r.tracks {
		codecs = append(codecs, t.codec.MimeType)
	}
	return RoomInfo{Room: r.name, Since: r.since, Viewers: len(r.subs) - r.edges, Edges: r.edges, Relayed: r.relay, Codecs: codecs}, true
}

// viewersChanged reports whether the viewer count differs from the last report, and records it.
func (r *room) viewersChanged() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.subs)-r.edges == r.lastViewers {
		return false
	}
	r.lastViewers = len(r.subs) - r.edges
	return true
}

// onTrack is the publisher's OnTrack: each incoming track (each layer of a simulcast track: Pion
// reports every RID as a track of its own) feeds the room.
func (r *room) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	r.mu.Lock()
	pub := r.pub
	r.mu.Unlock()
	var in *pubIngest
	if pub != nil {
		in = pub.ingest
	}
	r.addTrack(in.track(remote, recv), recv)
}

// addTrack starts feeding the room from an incoming track. recv is the Pion receiver of a
// browser track (the simulcast layers of one receiver form one track; its RTCP is drained), nil
// for a track from elsewhere (whose layers, if it has any, form one track).
func (r *room) addTrack(in IncomingTrack, recv *webrtc.RTPReceiver) {
	u := &upTrack{room: r, in: in, codec: in.Codec(), kind: in.Kind(), rid: in.RID()}
	u.codec.RTCPFeedback = nil
	u.subs.Store(&[]*downTrack{})
	var order []string
	if u.rid != "" && recv != nil {
		order = r.ridOrder(recv)
	} else if u.rid != "" {
		order = r.relayOrder
	}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		if c, ok := in.(io.Closer); ok {
			_ = c.Close()
		}
		return
	}
	if c, ok := in.(io.Closer); ok {
		r.closers = append(r.closers, c)
	}
	startMonitor := false
	if u.rid == "" {
		u.info = TrackInfo{Index: len(r.tracks), Kind: u.kind, Codec: u.codec, SSRC: uint32(in.SSRC())}
		r.tracks = append(r.tracks, u)
	} else {
		sim := r.sims[recv]
		if sim == nil {
			sim = &simulcast{room: r, slot: len(r.tracks), order: order, codec: kindOfCodec(u.codec.MimeType),
				views: map[*simView]struct{}{}, rates: map[*upTrack]float64{}}
			r.sims[recv] = sim
			r.tracks = append(r.tracks, u)
			startMonitor = true
		}
		u.sim = sim
		u.info = TrackInfo{Index: sim.slot, Kind: u.kind, Codec: u.codec, SSRC: uint32(in.SSRC())}
		sim.addLayer(u)
		// Until the room is live, the slot (what sinks such as the recorder get) is the best layer.
		if !r.live && r.tracks[sim.slot].rank < u.rank {
			r.tracks[sim.slot] = u
		}
	}
	r.arrived++
	n := r.arrived
	goLive := n >= r.expected
	if !goLive && n == 1 {
		r.liveTimer = time.AfterFunc(r.s.cfg.LiveGrace, r.goLive)
	}
	// A track or layer that arrives after the room went live is not in the other nodes' pulls
	// (a pull carries what the room had when it started): they are closed, and each pulls again
	// with everything (its viewers are told the show goes on and are back in about a second).
	var repull []*Subscriber
	if r.live {
		for sub := range r.subs {
			if sub.relay {
				repull = append(repull, sub)
			}
		}
	}
	r.mu.Unlock()
	for _, sub := range repull {
		r.s.log.Info("a track arrived after the room went live: closing a relay pull so it pulls it too", "room", r.name, "rid", u.rid)
		go sub.Close()
	}

	r.s.wg.Add(1)
	go u.readLoop()
	if recv != nil {
		r.s.wg.Add(1)
		var pi *pubIngest
		if d, ok := in.(*directIn); ok {
			pi = d.in
		}
		go func() {
			defer r.s.wg.Done()
			drainRTCP(recv, u.rid, pi)
		}()
	}
	if startMonitor {
		r.s.wg.Add(1)
		go u.sim.monitor()
	}
	if goLive {
		r.goLive()
	}
}

func (r *room) goLive() {
	r.mu.Lock()
	if r.live || r.ended || len(r.tracks) == 0 {
		r.mu.Unlock()
		return
	}
	if r.liveTimer != nil {
		r.liveTimer.Stop()
	}
	r.live = true
	r.since = time.Now()
	since := r.since
	r.mu.Unlock()
	r.s.log.Info("room live", "room", r.name, "tracks", len(r.tracks))
	r.startSink()
	r.s.emit(Event{Kind: EventLive, Room: r.name, Live: true, Since: since})
	r.s.emit(Event{Kind: EventStatus, Room: r.name, Live: true, Since: since})
}

// end stops the broadcast: the publisher and every viewer are closed. Idempotent.
func (r *room) end(reason string) {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return
	}
	r.ended = true
	close(r.done)
	if r.liveTimer != nil {
		r.liveTimer.Stop()
	}
	subs := make([]*Subscriber, 0, len(r.subs))
	for sub := range r.subs {
		subs = append(subs, sub)
	}
	pub := r.pub
	sinks := r.sinks
	closers := r.closers
	r.mu.Unlock()

	r.s.removeRoom(r)
	if pub != nil {
		pub.closePC()
	}
	for _, c := range closers {
		_ = c.Close()
	}
	for _, f := range sinks {
		f.stop()
	}
	for _, sub := range subs {
		sub.Close()
	}
	r.s.log.Info("room ended", "room", r.name, "reason", reason, "viewers", len(subs))
	r.s.emit(Event{Kind: EventEnded, Room: r.name, Reason: reason})
}

func (r *room) addSub(sub *Subscriber) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return false
	}
	r.subs[sub] = struct{}{}
	if sub.relay {
		r.edges++
	}
	return true
}

func (r *room) removeSub(sub *Subscriber) {
	r.mu.Lock()
	if _, ok := r.subs[sub]; ok && sub.relay {
		r.edges--
	}
	delete(r.subs, sub)
	r.mu.Unlock()
}

func (r *room) snapshotTracks() []*upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*upTrack(nil), r.tracks...)
}

// upTrack is one incoming publisher track and the viewers' copies of it.
type upTrack struct {
	room  *room
	in    IncomingTrack
	codec webrtc.RTPCodecCapability
	kind  webrtc.RTPCodecType
	info  TrackInfo
	rid   string     // simulcast layer ID ("" for a plain track)
	rank  int        // simulcast: position among the layers, lowest quality first
	sim   *simulcast // simulcast: the track's layers; nil for a plain track
	stats layerStats

	// subs is copy-on-write: the read loop loads it without locking.
	subsMu sync.Mutex
	subs   atomic.Pointer[[]*downTrack]

	kfMu      sync.Mutex
	kfLast    time.Time
	kfPending bool

	fan   fanout // viewers, in writer groups
	cache packetCache
	// seqOffset renumbers the forwarded stream after dropped padding-only packets (bandwidth
	// probes), so viewers see contiguous sequence numbers. Read loop only.
	seqOffset uint16
	lastSeq   uint16
	started   bool
}

func (u *upTrack) attach(d *downTrack) {
	u.subsMu.Lock()
	old := *u.subs.Load()
	next := make([]*downTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	u.subs.Store(&next)
	u.subsMu.Unlock()
}

func (u *upTrack) detach(d *downTrack) {
	u.subsMu.Lock()
	old := *u.subs.Load()
	next := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	u.subs.Store(&next)
	u.subsMu.Unlock()
}

// readLoop is the one goroutine reading this track. It hands each packet to every viewer's
// bounded queue and never waits for a viewer.
func (u *upTrack) readLoop() {
	st := &u.room.s.stats
	defer u.room.s.wg.Done()
	defer u.stopAllGroups()
	scratch := make([]byte, 1500)
	for {
		pkt, err := readPacket(u.in, scratch)
		if err != nil {
			if u.room.relay { // the pull broke: viewers get the normal end and reconnect
				go u.room.endLost()
			}
			return
		}
		size := uint64(pkt.MarshalSize())
		st.packetsIn.Add(1)
		st.bytesIn.Add(size)
		u.room.s.sr.kick() // sender reports resume if they had stopped (srsched.go)
		if !u.prepare(pkt) {
			continue
		}
		now := monoNow()
		u.stats.bytes.Add(size)
		u.stats.lastAt.Store(now)
		u.cache.put(pkt)
		u.fanOut(pkt, now)
		for _, d := range *u.subs.Load() {
			d.feed.enqueue(u.info, pkt)
		}
	}
}

// prepare turns a received packet into the one copy all consumers share: header extensions
// (negotiated with the publisher, not the viewers) are removed, padding-only packets (bandwidth
// probes) are dropped and the sequence numbers closed up behind them. It reports whether to
// forward the packet.
func (u *upTrack) prepare(pkt *rtp.Packet) bool {
	pkt.Header.Extension = false
	pkt.Header.Extensions = nil
	inOrder := !u.started || pkt.SequenceNumber-u.lastSeq < 0x8000
	if inOrder {
		u.lastSeq, u.started = pkt.SequenceNumber, true
	}
	if len(pkt.Payload) == 0 {
		if inOrder {
			u.seqOffset++
		}
		return false
	}
	pkt.SequenceNumber -= u.seqOffset
	return true
}

// requestKeyframe asks the publisher for a keyframe, at most once per KeyframeInterval; requests
// inside the interval are merged into one sent at its end, so no joining viewer waits a full GOP.
func (u *upTrack) requestKeyframe() {
	if u.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	interval := u.room.s.cfg.KeyframeInterval
	u.kfMu.Lock()
	defer u.kfMu.Unlock()
	if u.kfPending {
		return
	}
	wait := time.Until(u.kfLast.Add(interval))
	if wait <= 0 {
		u.kfLast = time.Now()
		go u.sendPLI()
		return
	}
	u.kfPending = true
	time.AfterFunc(wait, func() {
		u.kfMu.Lock()
		u.kfPending = false
		u.kfLast = time.Now()
		u.kfMu.Unlock()
		u.sendPLI()
	})
}

func (u *upTrack) sendPLI() {
	if kr, ok := u.in.(KeyframeRequester); ok {
		if kr.RequestKeyframe() == nil {
			u.room.s.stats.plisSent.Add(1)
		}
		return
	}
	u.room.mu.Lock()
	pub, ended := u.room.pub, u.room.ended
	u.room.mu.Unlock()
	if pub == nil || ended {
		return
	}
	if err := pub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(u.in.SSRC())}}); err == nil {
		u.room.s.stats.plisSent.Add(1)
	}
}

// drainRTCP reads (and so feeds the interceptors with) a receiver's RTCP until it closes.
func drainRTCP(recv *webrtc.RTPReceiver, rid string, in *pubIngest) {
	buf := make([]byte, 1500)
	read := in.rtcpReader(func(b []byte) (int, error) {
		if rid != "" {
			n, _, err := recv.ReadSimulcast(b, rid)
			return n, err
		}
		n, _, err := recv.Read(b)
		return n, err
	})
	for {
		if _, err := read(buf); err != nil {
			return
		}
	}
}

// ridOrder is the list of RIDs the offer announced for recv's transceiver.
func (r *room) ridOrder(recv *webrtc.RTPReceiver) []string {
	r.mu.Lock()
	pub := r.pub
	rids := r.rids
	r.mu.Unlock()
	if pub == nil {
		return nil
	}
	for _, t := range pub.pc.GetTransceivers() {
		if t.Receiver() == recv {
			return rids[t.Mid()]
		}
	}
	return nil
}
