package sfu

import (
	"errors"
	"github.com/relaycast/relaycast/sfu/internal/udpsend"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/internal/srtpkeys"
)

// The direct send path. Pion writes a viewer's packet through its interceptor chain, its SRTP
// session, the DTLS/SRTP endpoint mux, the ICE connection and the candidate pair before it
// reaches the socket (≈ 25 % of the SFU's CPU at load, see docs/PERFORMANCE.md). Once a viewer
// is connected, the SFU instead encrypts the packet itself, with the keys of the viewer's DTLS
// handshake (srtpkeys.Capture), straight into a datagram of the batching socket addressed to the
// viewer's selected ICE candidate. Pion keeps everything else: ICE (consent, keepalives), DTLS,
// receiving and decrypting the viewer's RTCP, and encrypting the RTCP the SFU sends (sender
// reports, which the SFU now writes itself for every viewer: srsched.go). Pion never sends RTP on
// these SSRCs, so the SFU's SRTP context is the only one for them (its rollover counters follow
// the sequence numbers as Pion's would).
//
// A viewer whose keys could not be learned (the SFU ended up DTLS client, an unknown cipher
// suite) or whose selected pair is not UDP over IPv4 stays on Pion's writer.

// sendState is a viewer's direct-path state (Subscriber.send).
type sendState struct {
	keys *srtpkeys.Capture              // nil: Pion's send path (Config.PionSend)
	dst  atomic.Pointer[netip.AddrPort] // the selected candidate's address; nil: not UDP
}

// viewerAPI returns the Pion API for a new viewer connection: with the direct path, a fresh API
// (sharing the media engine and sockets) whose DTLS observers see only this viewer's handshake.
// An offer that insists on being the DTLS server (a=setup:passive; RFC 8842 wants actpass) gets
// Pion's send path: the SFU would not send the ServerHello it learns the keys from.
// Its RTCP read streams hand the viewer's RTCP straight to handleRTCP (rtcpin.go); in is nil on
// Pion's send path, whose viewers read RTCP in rtcpLoop.
func (s *SFU) viewerAPI(offer string) (*webrtc.API, *srtpkeys.Capture, *rtcpIn) {
	if s.cfg.PionSend || strings.Contains(offer, "a=setup:passive") {
		return s.subAPI, nil, nil
	}
	k := &srtpkeys.Capture{}
	in := &rtcpIn{tracks: map[uint32]*downTrack{}}
	se := s.subSE
	se.SetDTLSKeyLogWriter(k)
	se.SetDTLSServerHelloMessageHook(k.ServerHello)
	se.BufferFactory = in.buffer
	return webrtc.NewAPI(webrtc.WithMediaEngine(s.subME), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se)), k, in
}

// prepareDirect keeps what viewerAPI needs: the viewers' setting engine (the SFU answers as DTLS
// server, so it sends the ServerHello) and media engine. Viewers on the direct path have no
// interceptors: NACKs are answered from the shared cache, sender reports come from the SFU's scheduler (srsched.go).
func (s *SFU) prepareDirect(se webrtc.SettingEngine) error {
	if s.cfg.PionSend {
		return nil
	}
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return err
	}
	s.subSE = se
	s.subME = &webrtc.MediaEngine{}
	return registerCodecs(s.subME, false, false)
}

// startSending switches the viewer's tracks to the direct path when possible and starts its
// sender reports. Called once, when the connection is up, before the tracks join the fan-out.
func (sub *Subscriber) startSending() {
	s := sub.room.s
	if sub.send.keys == nil {
		return // Pion's send path, with its sender-report interceptor
	}
	s.sr.add(sub)
	if err := sub.goDirect(); err != nil {
		s.log.Debug("viewer stays on Pion's send path", "room", sub.room.name, "id", sub.id, "err", err)
		return
	}
	s.stats.direct.Add(1)
}

var errNotDirect = errors.New("no direct send path")

func (sub *Subscriber) goDirect() error {
	st := &sub.send
	bc := sub.room.s.batch()
	if st.keys == nil || bc == nil {
		return errNotDirect
	}
	ice := sub.pc.SCTP().Transport().ICETransport()
	pair, err := ice.GetSelectedCandidatePair()
	if err != nil {
		return err
	}
	addr, ok := udpAddr(pair)
	if !ok {
		return errNotDirect
	}
	writers := make([]*directWriter, len(sub.downs))
	var first *udpsend.Sealer // the viewer's tracks share its AES-GCM context (Fork)
	for i, d := range sub.downs {
		seal, ok := first.Fork()
		if first == nil || !ok {
			profile, key, salt, err := st.keys.MasterKeys(true)
			if err != nil {
				return err
			}
			if seal, err = udpsend.NewSealer(profile, key, salt); err != nil {
				return err
			}
			if first == nil {
				first = seal
			}
		}
		b := d.local.b.Load()
		if b == nil {
			continue
		}
		writers[i] = &directWriter{conn: bc, dst: &st.dst, seal: seal, fallback: b.w}
	}
	st.dst.Store(&addr)
	ice.OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		if a, ok := udpAddr(p); ok {
			st.dst.Store(&a)
		} else {
			st.dst.Store(nil)
		}
	})
	for i, d := range sub.downs {
		if writers[i] != nil {
			d.local.useWriter(writers[i])
		}
	}
	return nil
}

// batch is the batching UDP socket of the ICE mux.
func (s *SFU) batch() *udpsend.Conn {
	for _, c := range s.udpLn {
		if bc, ok := c.(*udpsend.Conn); ok {
			return bc
		}
	}
	return nil
}

// udpAddr is the remote address of a UDP/IPv4 candidate pair.
func udpAddr(p *webrtc.ICECandidatePair) (netip.AddrPort, bool) {
	if p == nil || p.Local == nil || p.Remote == nil ||
		p.Local.Protocol != webrtc.ICEProtocolUDP || p.Remote.Protocol != webrtc.ICEProtocolUDP {
		return netip.AddrPort{}, false
	}
	ip, err := netip.ParseAddr(p.Remote.Address)
	if err != nil || !ip.Unmap().Is4() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), p.Remote.Port), true
}

// directWriter encrypts a viewer's track into the batching socket. The track's writer group and
// the viewer's RTCP goroutine (retransmissions) share it.
//
// GSO runs: a writer group that has several packets for its viewers writes them viewer by viewer
// and announces how many (begin); the writer then encrypts the viewer's consecutive packets end
// to end into one buffer while the kernel can send them as one UDP GSO message — every datagram
// of a run has the size of the first, except the last, which may be shorter — and queues the run
// once: when a packet does not fit (larger than the first: it starts the next run), after a
// shorter one, at MaxGSOSegs, or when the batch ends (end). No buffer is held between batches.
type directWriter struct {
	conn     *udpsend.Conn
	dst      *atomic.Pointer[netip.AddrPort]
	fallback webrtc.TrackLocalWriter // Pion's writer, if the pair stops being UDP

	mu   sync.Mutex
	seal *udpsend.Sealer

	// The GSO run being gathered (guarded by mu).
	run      *udpsend.Datagram
	runAddr  netip.AddrPort
	runPlain int  // plaintext size of the run's first packet
	runOpen  bool // more datagrams may join (false after a shorter one)
	left     int  // packets of the writer group's batch not written yet (a hint)
}

// gsoMaxSegment is the largest datagram sent as part of a GSO run. The kernel refuses a GSO
// message whose segments do not fit the route's MTU (where it would fragment a lone datagram),
// and a refusal turns GSO off for good; 1,400 bytes leave room for tunnels. WebRTC senders keep
// RTP packets near 1,200 bytes.
const gsoMaxSegment = 1400

// srtpOverhead is the most SRTP adds to a packet (AEAD tag; a ROC if ever sent in-band).
const srtpOverhead = 16 + 4

// begin announces that the writer group is about to write n packets of one batch.
func (w *directWriter) begin(n int) {
	w.mu.Lock()
	w.left = n
	w.mu.Unlock()
}

// end queues what was gathered of the batch.
func (w *directWriter) end() {
	w.mu.Lock()
	w.left = 0
	w.flushLocked()
	w.mu.Unlock()
}

// flushLocked queues the run being gathered, if any.
func (w *directWriter) flushLocked() {
	if d := w.run; d != nil {
		w.run = nil
		_ = w.conn.Enqueue(d, w.runAddr)
	}
}

// WriteRTP implements webrtc.TrackLocalWriter: the writer group's path (packets may be gathered
// into a GSO run).
func (w *directWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	return w.write(h, payload, true)
}

// writeNow sends a packet on its own, after what was gathered (retransmissions).
func (w *directWriter) writeNow(h *rtp.Header, payload []byte) (int, error) {
	return w.write(h, payload, false)
}

func (w *directWriter) write(h *rtp.Header, payload []byte, gather bool) (int, error) {
	addr := w.dst.Load()
	if addr == nil {
		w.mu.Lock()
		w.flushLocked()
		w.mu.Unlock()
		return w.fallback.WriteRTP(h, payload)
	}
	size := h.MarshalSize() + len(payload)
	if size+srtpOverhead > udpsend.SlotSize {
		return 0, udpsend.ErrTooLarge
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	fromGroup, left := gather, w.left
	if fromGroup && left > 0 {
		w.left--
	}
	// More packets of the batch follow, and the datagram is small enough for any path's MTU.
	gather = fromGroup && left > 1 && size+srtpOverhead <= gsoMaxSegment && w.conn.GSO()
	if r := w.run; r != nil {
		if fromGroup && left >= 1 { // the batch's last packet may still join the run
			if w.runOpen && *addr == w.runAddr && r.Segs < udpsend.MaxGSOSegs && size <= w.runPlain &&
				r.N+size+srtpOverhead <= len(r.Buf) && w.conn.GSO() {
				return size, w.appendLocked(h, payload, size, left <= 1)
			}
		}
		w.flushLocked()
	}
	var d *udpsend.Datagram
	if gather {
		d = w.conn.NewRun(left)
	} else {
		d = w.conn.NewDatagram()
	}
	m, err := w.sealAt(d, 0, h, payload, size)
	if err != nil {
		w.conn.Release(d)
		return 0, err
	}
	d.N, d.Seg, d.Segs = m, m, 1
	if gather {
		w.run, w.runAddr, w.runPlain, w.runOpen = d, *addr, size, true
		return size, nil
	}
	if err := w.conn.Enqueue(d, *addr); err != nil {
		return 0, err
	}
	return size, nil
}

// appendLocked encrypts a packet (size bytes in clear, no larger than the run's first) at the end
// of the run; last: the batch has no more packets, queue the run.
func (w *directWriter) appendLocked(h *rtp.Header, payload []byte, size int, last bool) error {
	r := w.run
	m, err := w.sealAt(r, r.N, h, payload, size)
	if err != nil {
		return err
	}
	switch {
	case m == r.Seg:
	case m < r.Seg:
		w.runOpen = false // a shorter datagram ends a GSO run
	default:
		// Longer than the first although not larger in clear (a cipher whose overhead varies):
		// it cannot be a segment of this run; send it on its own after the run.
		d := w.conn.NewDatagram()
		d.N = copy(d.Buf, r.Buf[r.N:r.N+m])
		w.flushLocked()
		return w.conn.Enqueue(d, w.runAddr)
	}
	r.N += m
	r.Segs++
	if last || !w.runOpen || r.Segs == udpsend.MaxGSOSegs {
		w.flushLocked()
	}
	return nil
}

// sealAt marshals and encrypts a packet (size bytes in clear) into d.Buf at off and returns the
// encrypted length.
func (w *directWriter) sealAt(d *udpsend.Datagram, off int, h *rtp.Header, payload []byte, size int) (int, error) {
	return w.seal.Seal(d.Buf[off:off:min(off+size+srtpOverhead, len(d.Buf))], h, payload)
}

// Write implements webrtc.TrackLocalWriter (a marshalled packet; not used by the SFU itself).
func (w *directWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return w.WriteRTP(&p.Header, p.Payload)
}

// senderReport describes what was sent on d; nil before the first packet.
func (d *downTrack) senderReport(now time.Time, mono int64) *rtcp.SenderReport {
	lt := d.local
	b := lt.b.Load()
	if b == nil || lt.sentPackets.Load() == 0 || lt.lastAt.Load() == 0 {
		return nil
	}
	elapsed := max(mono-lt.lastAt.Load(), 0)
	rtpTime := lt.lastTS.Load() + uint32(uint64(elapsed)*uint64(d.up.codec.ClockRate)/uint64(time.Second))
	return &rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     rtpTime,
		PacketCount: lt.sentPackets.Load(),
		OctetCount:  lt.sentOctets.Load(),
	}
}

// ntpTime is t in the 64-bit NTP format (seconds since 1900, 32.32 fixed point).
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // 1900 → 1970
	ns := uint64(t.UnixNano())
	secs := ns/uint64(time.Second) + ntpEpochOffset
	frac := (ns % uint64(time.Second)) << 32 / uint64(time.Second)
	return secs<<32 | frac
}
