package sfu

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/internal/srtpkeys"
)

// The direct receive path (issue 16), the counterpart of the direct send path (direct.go).
//
// Pion hands a publisher's packet from the socket through five goroutines before the track's read
// loop sees it: the UDP mux's reader, the ICE connection, the DTLS/SRTP endpoint mux, the SRTP
// session (which decrypts) and the track's buffer, plus one more per receive-side interceptor that
// queues to a loop of its own (TWCC). In rooms of a few viewers that chain is the largest cost of
// the server (21.5 % of its CPU at 50 rooms × 4 viewers, docs/PERFORMANCE.md). Instead, once a
// publisher's track has arrived, the batching socket's read hook (udpsend.ReadHook) takes that
// track's SRTP packets as the mux reads them, decrypts them with the keys of the publisher's DTLS
// handshake (srtpkeys.Capture, the SFU answers as DTLS server) and queues them to the track's read
// loop: one hand-off instead of five. RTX retransmissions are unwrapped into the track the same
// way. Everything else from the publisher goes on to Pion: STUN, DTLS, SRTCP, packets of SSRCs no
// track has claimed yet (the first packets of a track, simulcast probing, the first RTX packet of a
// layer), and any packet the SFU cannot decrypt.
//
// The receive-side feedback the publisher's encoder lives on is the SFU's own for these
// publishers (their Pion API has no interceptors):
//   - TWCC: the read hook records every RTP packet's transport-wide sequence number at socket
//     arrival, whatever its SSRC (media, RTX, padding probes), into one recorder per publisher, and
//     a timer that runs only while packets arrive sends the feedback every 100 ms (Pion's TWCC
//     interceptor ticks every 100 ms from connect to close, and hands every packet to its loop
//     over a channel);
//   - NACKs and receiver reports: Pion's NACK generator and receiver-report interceptors, built
//     per publisher and run in the track's read loop over the packets it reads, from either
//     source.
//
// A track's read loop reads from two sources into one queue: the hook, and Pion's track (what
// Pion delivered before the track was claimed, and anything it delivers later: packets of a
// publisher whose ICE pair is not UDP, or that the hook passed on). Pion's track ending ends the
// track, as before.

// ingestInterval is the TWCC feedback interval (Pion's default).
const ingestInterval = 100 * time.Millisecond

// ingestQueue bounds a track's queue between the read hook and its read loop (≈ 1.5 s of a
// 1.5 Mbps video); a packet that does not fit is dropped (and NACKed by the generator).
const ingestQueue = 256

var ingestBufs = sync.Pool{New: func() any { b := make([]byte, 1500); return &b }}

// ingestRoutes maps the publishers' selected remote addresses to their direct receive state. The
// read hook loads it once per datagram; publishers come and go under mu (copy on write).
type ingestRoutes struct {
	mu sync.Mutex
	m  atomic.Pointer[map[netip.AddrPort]*pubIngest]
}

func (r *ingestRoutes) set(old, addr netip.AddrPort, p *pubIngest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[netip.AddrPort]*pubIngest{}
	if cur := r.m.Load(); cur != nil {
		for a, q := range *cur {
			next[a] = q
		}
	}
	if old.IsValid() && next[old] == p {
		delete(next, old)
	}
	if addr.IsValid() && p != nil {
		next[addr] = p
	}
	r.m.Store(&next)
}

func (r *ingestRoutes) lookup(a netip.AddrPort) *pubIngest {
	if m := r.m.Load(); m != nil {
		return (*m)[a]
	}
	return nil
}

// takeIngest is the batching socket's read hook: it takes a publisher's SRTP packet for a track
// on the direct receive path and reports whether it did.
func (s *SFU) takeIngest(p []byte, from netip.AddrPort, at time.Time) bool {
	// RFC 7983: 128–191 is RTP or RTCP; RTCP packet types 192–223 go on to Pion.
	if len(p) < 12 || p[0]&0xc0 != 0x80 || (p[1] >= 192 && p[1] <= 223) {
		return false
	}
	in := s.ingest.lookup(from)
	if in == nil {
		return false
	}
	return in.take(p, at)
}

// pubIngest is one publisher connection's direct receive state.
type pubIngest struct {
	s    *SFU
	pc   *webrtc.PeerConnection
	keys *srtpkeys.Capture

	// Read hook goroutine only.
	ctx    *srtp.Context
	noCtx  bool
	hdr    rtp.Header
	rtxHdr rtp.Header

	twccID uint8 // set before the route is published
	tracks atomic.Pointer[map[uint32]*directIn]
	twcc   twccFeedback

	mu      sync.Mutex
	chain   interceptor.Interceptor // NACK generator + receiver reports (+ TWCC when not hooked)
	hooked  bool                    // a route exists: the hook records TWCC
	routeAt atomic.Int64            // unix ns of the last look at Pion's selected pair (missed)
	addr    netip.AddrPort
	all     []*directIn
	closed  bool
}

// publisherAPI returns the Pion API for a new publisher connection: on the direct receive path
// a fresh one without interceptors whose DTLS observers see only this publisher's handshake.
// An offer that insists on being the DTLS server (a=setup:passive) gets the shared API with
// Pion's interceptors, as does every publisher with Config.PionIngest.
func (s *SFU) publisherAPI(offer string) (*webrtc.API, *pubIngest) {
	if s.cfg.PionIngest || s.pubME == nil || strings.Contains(offer, "a=setup:passive") {
		return s.pubAPI, nil
	}
	k := &srtpkeys.Capture{}
	se := s.pubSE
	se.SetDTLSKeyLogWriter(k)
	se.SetDTLSServerHelloMessageHook(k.ServerHello)
	in := &pubIngest{s: s, keys: k}
	return webrtc.NewAPI(webrtc.WithMediaEngine(s.pubME), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se)), in
}

// prepareIngest builds what publisherAPI needs: the publishers' setting engine (the SFU answers
// as DTLS server) and media engine, and the factories of the feedback interceptors the SFU runs
// itself.
func (s *SFU) prepareIngest(se webrtc.SettingEngine) error {
	if s.cfg.PionIngest {
		return nil
	}
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return err
	}
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, true, true); err != nil {
		return err
	}
	if err := webrtc.ConfigureTWCCSender(m, &interceptor.Registry{}); err != nil { // the extension only
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return err
	}
	if err := feedbackRegistry(&s.ingestReg, false); err != nil {
		return err
	}
	if err := feedbackRegistry(&s.ingestRegTWCC, true); err != nil {
		return err
	}
	s.pubSE, s.pubME = se, m
	return nil
}

// feedbackRegistry adds the receive-side feedback interceptors the SFU runs for a publisher on
// the direct receive path: the NACK generator and receiver reports, and TWCC when the read hook
// does not record it.
func feedbackRegistry(reg *interceptor.Registry, withTWCC bool) error {
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return err
	}
	reg.Add(gen)
	// Receiver reports only: Pion's sender-report interceptor would tick every second for a
	// connection that sends nothing.
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return err
	}
	reg.Add(rr)
	if !withTWCC {
		return nil
	}
	tw, err := twcc.NewSenderInterceptor()
	if err != nil {
		return err
	}
	reg.Add(tw)
	return nil
}

// track returns the IncomingTrack for a publisher's new track: on the direct receive path when
// the publisher has one (in != nil).
func (in *pubIngest) track(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) IncomingTrack {
	if in == nil {
		return RemoteTrack(remote)
	}
	d := &directIn{in: in, remote: remote, ssrc: uint32(remote.SSRC()), pt: uint8(remote.PayloadType()),
		ch: make(chan *[]byte, ingestQueue), done: make(chan struct{})}
	info := streamInfo(remote, recv)
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return RemoteTrack(remote)
	}
	if in.chain == nil {
		in.start(info)
	}
	d.info = info
	d.chain = in.chain.BindRemoteStream(info, interceptor.RTPReaderFunc(d.source))
	in.all = append(in.all, d)
	if in.hooked {
		in.claim(d)
	}
	in.mu.Unlock()
	in.s.wg.Add(1)
	go d.pionFeed()
	return d
}

// start builds the publisher's feedback chain and, when its keys are known and its ICE pair is
// UDP, publishes its route to the read hook. Called with in.mu held, for the first track (the
// connection is up: DTLS ran before any track can arrive).
func (in *pubIngest) start(info *interceptor.StreamInfo) {
	s := in.s
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			in.twccID = uint8(e.ID)
		}
	}
	in.twcc.init(func(pkts []rtcp.Packet) { _ = in.pc.WriteRTCP(pkts) })
	addr, ok := netip.AddrPort{}, false
	if _, _, _, err := in.keys.MasterKeys(false); err == nil && s.batch() != nil {
		if pair, err := in.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err == nil {
			addr, ok = udpAddr(pair)
		}
	}
	reg := &s.ingestRegTWCC
	if ok {
		reg = &s.ingestReg
	}
	chain, err := reg.Build("")
	if err != nil { // the factories above never fail; keep the track on Pion's feed
		chain = &interceptor.NoOp{}
	}
	chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		return 0, in.pc.WriteRTCP(pkts)
	}))
	in.chain = chain
	if !ok {
		return
	}
	in.hooked, in.addr = true, addr
	s.ingest.set(netip.AddrPort{}, addr, in)
	s.stats.directIngest.Add(1)
	in.pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.route(p)
	})
}

// route points the read hook at the publisher's current ICE pair (in.mu held). A pair that is
// not UDP leaves an invalid address: Pion's feed carries the packets.
func (in *pubIngest) route(p *webrtc.ICECandidatePair) {
	a, _ := udpAddr(p)
	if in.closed || !in.hooked || a == in.addr {
		return
	}
	in.s.ingest.set(in.addr, a, in)
	in.addr = a
}

// missed is called by a track's Pion feed for a packet that came Pion's way although the
// publisher is on the direct path: the hook did not know the address it came from. That
// happens when the publisher sends on another ICE pair, e.g. after it nominated a new one,
// sometimes before Pion reports the change or without Pion's selected pair changing at all.
// The packet's TWCC sequence number is recorded here (arrival: now), since Pion's chain has no
// TWCC recorder on this path: a publisher whose packets were missing from the feedback would
// take them for lost and its send-side estimate would fall to the floor. At most every
// routeCheck the hook is pointed at Pion's selected pair again.
func (in *pubIngest) missed(pkt []byte, h *rtp.Header, at time.Time) {
	in.s.stats.ingestMissed.Add(1)
	if in.twccID != 0 {
		if _, err := h.Unmarshal(pkt); err == nil {
			in.recordTWCC(h, at)
		}
	}
	if last := in.routeAt.Load(); at.UnixNano()-last < int64(routeCheck) || !in.routeAt.CompareAndSwap(last, at.UnixNano()) {
		return
	}
	pair, err := in.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return
	}
	in.mu.Lock()
	in.route(pair)
	in.mu.Unlock()
}

// routeCheck is how often a publisher's packets that reach the direct path's tracks through
// Pion make the SFU look at Pion's selected pair again (pubIngest.missed).
const routeCheck = 250 * time.Millisecond

// claim makes the hook take d's SSRC (and its RTX SSRC when known). Called with in.mu held.
func (in *pubIngest) claim(d *directIn) {
	next := map[uint32]*directIn{}
	if cur := in.tracks.Load(); cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	next[d.ssrc] = d
	if r := uint32(d.remote.RtxSSRC()); r != 0 {
		next[r] = d
	}
	in.tracks.Store(&next)
}

// claimRTX looks for the track whose RTX stream is ssrc (Pion learns a simulcast layer's RTX
// SSRC from its first RTX packet) and claims it. Read hook goroutine.
func (in *pubIngest) claimRTX(ssrc uint32) *directIn {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, d := range in.all {
		if uint32(d.remote.RtxSSRC()) == ssrc {
			in.claim(d)
			return d
		}
	}
	return nil
}

// take handles one RTP datagram from the publisher (read hook goroutine).
func (in *pubIngest) take(p []byte, at time.Time) bool {
	ssrc := binary.BigEndian.Uint32(p[8:12])
	var d *directIn
	if m := in.tracks.Load(); m != nil {
		d = (*m)[ssrc]
	}
	if d == nil {
		d = in.claimRTX(ssrc)
	}
	if d == nil || !in.context() {
		in.recordWire(p, at)
		return false
	}
	bp := ingestBufs.Get().(*[]byte)
	out, err := in.ctx.DecryptRTP((*bp)[:0], p, &in.hdr)
	if err != nil { // a replay, a forgery, or keys that are not the publisher's: Pion decides
		ingestBufs.Put(bp)
		in.s.stats.ingestRefused.Add(1)
		in.s.log.Debug("direct ingest: decrypt", "ssrc", ssrc, "err", err)
		in.recordWire(p, at)
		return false
	}
	if in.twccID != 0 {
		h := &in.hdr
		if cryptex(p) { // the extensions were encrypted: read them from the plaintext
			if _, err := in.rtxHdr.Unmarshal(out); err != nil {
				h = nil
			} else {
				h = &in.rtxHdr
			}
		}
		if h != nil {
			in.recordTWCC(h, at)
		}
	}
	if ssrc != d.ssrc {
		if out = in.unwrapRTX(out, d); out == nil {
			ingestBufs.Put(bp)
			return true // a padding-only RTX packet (a bandwidth probe): counted by TWCC above
		}
		in.s.stats.ingestRTX.Add(1)
	}
	*bp = out
	select {
	case d.ch <- bp:
		in.s.stats.ingestPackets.Add(1)
	default:
		ingestBufs.Put(bp)
		in.s.stats.ingestDropped.Add(1)
	}
	return true
}

// context makes the decryption context of what the publisher sends, once (read hook
// goroutine). Cryptex (RFC 9335, encrypted header extensions) is accepted when a packet uses it:
// the offer/answer decides whether the publisher sends it, the keys authenticate every packet.
func (in *pubIngest) context() bool {
	if in.ctx == nil && !in.noCtx {
		ctx, err := in.keys.Context(false, srtp.SRTPReplayProtection(256), srtp.Cryptex(srtp.CryptexModeEnabled))
		if err != nil {
			in.noCtx = true
			in.s.log.Debug("direct ingest: no keys", "err", err)
			return false
		}
		in.ctx = ctx
	}
	return in.ctx != nil
}

// recordWire records the TWCC sequence number of a packet the hook leaves to Pion, read from
// its header in the clear (not possible for a Cryptex packet).
func (in *pubIngest) recordWire(p []byte, at time.Time) {
	if in.twccID == 0 || cryptex(p) {
		return
	}
	if _, err := in.hdr.Unmarshal(p); err == nil {
		in.recordTWCC(&in.hdr, at)
	}
}

func (in *pubIngest) recordTWCC(h *rtp.Header, at time.Time) {
	if ext := h.GetExtension(in.twccID); len(ext) >= 2 {
		in.twcc.record(h.SSRC, binary.BigEndian.Uint16(ext), at)
	}
}

// cryptex reports whether an RTP packet's header extension is Cryptex-encrypted (its profile is
// 0xC0DE or 0xC2DE, RFC 9335).
func cryptex(p []byte) bool {
	if p[0]&0x10 == 0 {
		return false
	}
	off := 12 + 4*int(p[0]&0x0f)
	if len(p) < off+2 {
		return false
	}
	prof := binary.BigEndian.Uint16(p[off:])
	return prof == 0xc0de || prof == 0xc2de
}

// unwrapRTX turns a decrypted RTX packet (RFC 4588) into the packet it repairs, in place: the
// original sequence number from the payload's first two bytes, the track's SSRC and payload type,
// no padding. nil for a packet with no original in it.
func (in *pubIngest) unwrapRTX(b []byte, d *directIn) []byte {
	hl, err := in.rtxHdr.Unmarshal(b)
	if err != nil {
		return nil
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		pad := int(b[end-1])
		if pad == 0 || pad > end-hl {
			return nil
		}
		end -= pad
	}
	if end-hl < 2 {
		return nil
	}
	osn := binary.BigEndian.Uint16(b[hl:])
	n := copy(b[hl:], b[hl+2:end])
	b = b[:hl+n]
	b[0] &^= 0x20
	b[1] = b[1]&0x80 | d.pt
	binary.BigEndian.PutUint16(b[2:4], osn)
	binary.BigEndian.PutUint32(b[8:12], d.ssrc)
	return b
}

// rtcpReader wraps read (one receiver's RTCP from the publisher, as drainRTCP reads it) so the
// receiver-report interceptor sees the publisher's sender reports (LSR/DLSR in its reports).
func (in *pubIngest) rtcpReader(read func([]byte) (int, error)) func([]byte) (int, error) {
	if in == nil {
		return read
	}
	in.mu.Lock()
	chain := in.chain
	in.mu.Unlock()
	if chain == nil {
		return read
	}
	r := chain.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, err := read(b)
		return n, a, err
	}))
	return func(b []byte) (int, error) {
		n, _, err := r.Read(b, nil)
		return n, err
	}
}

// close ends the publisher's direct receive path (the peer connection is closing).
func (in *pubIngest) close() {
	if in == nil {
		return
	}
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.closed = true
	if in.hooked {
		in.s.ingest.set(in.addr, netip.AddrPort{}, in)
	}
	chain := in.chain
	in.mu.Unlock()
	in.twcc.close()
	if chain != nil {
		_ = chain.Close()
	}
}

// directIn is a publisher's track on the direct receive path (an IncomingTrack).
type directIn struct {
	in     *pubIngest
	remote *webrtc.TrackRemote
	ssrc   uint32
	pt     uint8
	info   *interceptor.StreamInfo
	chain  interceptor.RTPReader
	ch     chan *[]byte
	done   chan struct{} // Pion's track ended
}

func (d *directIn) Read(b []byte) (int, error) {
	n, _, err := d.chain.Read(b, nil)
	return n, err
}

// source is the bottom of the feedback chain: the next packet of either source.
func (d *directIn) source(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	select {
	case bp := <-d.ch:
		n := copy(b, *bp)
		ingestBufs.Put(bp)
		return n, a, nil
	case <-d.done:
		return 0, nil, io.EOF
	}
}

// pionFeed queues what Pion's track delivers, and ends the track when Pion's does.
func (d *directIn) pionFeed() {
	defer d.in.s.wg.Done()
	defer func() {
		d.in.mu.Lock()
		chain := d.in.chain
		d.in.mu.Unlock()
		if chain != nil {
			chain.UnbindRemoteStream(d.info)
		}
		close(d.done)
	}()
	buf := make([]byte, 1500)
	var hdr rtp.Header
	for {
		n, _, err := d.remote.Read(buf)
		if err != nil {
			return
		}
		if d.in.hooked {
			d.in.missed(buf[:n], &hdr, time.Now())
		}
		bp := ingestBufs.Get().(*[]byte)
		*bp = append((*bp)[:0], buf[:n]...)
		select {
		case d.ch <- bp:
		default:
			ingestBufs.Put(bp)
			d.in.s.stats.ingestDropped.Add(1)
		}
	}
}

func (d *directIn) Codec() webrtc.RTPCodecCapability { return d.remote.Codec().RTPCodecCapability }
func (d *directIn) Kind() webrtc.RTPCodecType        { return d.remote.Kind() }
func (d *directIn) RID() string                      { return d.remote.RID() }
func (d *directIn) SSRC() webrtc.SSRC                { return d.remote.SSRC() }

// streamInfo describes a publisher's track to the feedback interceptors as Pion would.
func streamInfo(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *interceptor.StreamInfo {
	c := remote.Codec()
	info := &interceptor.StreamInfo{
		ID: remote.ID(), Attributes: interceptor.Attributes{}, SSRC: uint32(remote.SSRC()),
		PayloadType: uint8(remote.PayloadType()), MimeType: c.MimeType, ClockRate: c.ClockRate,
		Channels: c.Channels, SDPFmtpLine: c.SDPFmtpLine,
	}
	for _, e := range recv.GetParameters().HeaderExtensions {
		info.RTPHeaderExtensions = append(info.RTPHeaderExtensions, interceptor.RTPHeaderExtension{URI: e.URI, ID: e.ID})
	}
	for _, fb := range c.RTCPFeedback {
		info.RTCPFeedback = append(info.RTCPFeedback, interceptor.RTCPFeedback{Type: fb.Type, Parameter: fb.Parameter})
	}
	return info
}

// twccFeedback is one publisher's transport-wide congestion feedback: arrivals recorded by the
// read hook, sent every ingestInterval by a timer that is armed only while packets arrive.
type twccFeedback struct {
	mu     sync.Mutex
	rec    *twcc.Recorder
	start  time.Time
	timer  *time.Timer
	armed  bool
	closed bool
	write  func([]rtcp.Packet)
}

func (f *twccFeedback) init(write func([]rtcp.Packet)) {
	f.mu.Lock()
	f.rec, f.start, f.write = twcc.NewRecorder(rand.Uint32()), time.Now(), write
	f.mu.Unlock()
}

// record notes a packet that arrived at at (the kernel's receive time when the socket has it).
func (f *twccFeedback) record(ssrc uint32, seq uint16, at time.Time) {
	f.mu.Lock()
	if f.rec != nil && !f.closed {
		f.rec.Record(ssrc, seq, at.Sub(f.start).Microseconds())
		if !f.armed {
			f.armed = true
			if f.timer == nil {
				f.timer = time.AfterFunc(ingestInterval, f.flush)
			} else {
				f.timer.Reset(ingestInterval)
			}
		}
	}
	f.mu.Unlock()
}

func (f *twccFeedback) flush() {
	f.mu.Lock()
	f.armed = false
	var pkts []rtcp.Packet
	if !f.closed {
		pkts = f.rec.BuildFeedbackPacket()
	}
	write := f.write
	f.mu.Unlock()
	if len(pkts) > 0 {
		write(pkts)
	}
}

func (f *twccFeedback) close() {
	f.mu.Lock()
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
	}
	f.mu.Unlock()
}
