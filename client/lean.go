package client

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/internal/srtpkeys"
)

// The lean viewer (ViewerParams.Lean) is for load generation: ICE and DTLS run through Pion as
// for the full viewer, but the media never reaches Pion. The viewer's own UDP socket sits under
// Pion's ICE (a one-socket UDP mux) and takes every SRTP packet out of the stream before Pion
// sees it: the cleartext RTP header gives the packet and loss counts; only the first packet of
// each video frame is decrypted (with the keys learned from the DTLS handshake, srtpkeys) until
// the first keyframe is found, and the last packet of each video frame for the latency stamp
// when OnLatency is set. No SRTP decryption of the rest, no NACKs or TWCC feedback (the lean
// viewer never asks for retransmissions; Pion's interceptors see no media, but its receiver
// report interceptor sends an empty report per track every second: leanAPI), no jitter buffers,
// no track goroutines. ViewerParams.LeanRTCP adds the RTCP a browser sends (leanrtcp.go). What the server does for a lean viewer is what it does for any viewer.

// leanConn is the lean viewer's socket as Pion's ICE sees it (ice.AddrPortReaderWriter).
type leanConn struct {
	*net.UDPConn
	v          *Viewer
	keys       *srtpkeys.Capture
	dtlsServer atomic.Bool // this viewer was the DTLS server

	// Only the mux's read goroutine touches these.
	ctx     *srtp.Context
	codecs  map[uint8]webrtc.RTPCodecParameters // payload type → the viewer's receive codec
	kinds   map[uint8]webrtc.RTPCodecType
	streams map[uint32]*leanStream
	hdr     rtp.Header
	plain   []byte
	desc    codecs.VP8Packet

	// UDP GRO (lean_gro_linux.go): with it on, a GSO message the server sends (a run of one
	// viewer's packets in one sendmsg) arrives as one read; rbuf holds it, pend the segments
	// that are not SRTP (handed to Pion one per call; they point into rbuf, which is not read
	// into again before pend is empty).
	gro       bool
	rbuf, oob []byte
	pend      [][]byte
	pendAddr  netip.AddrPort
	reads     atomic.Int64 // socket reads that returned data
	coalesced atomic.Int64 // of which held more than one segment
	datagrams atomic.Int64 // datagrams (segments) received

	rtcp   *leanRTCP // ViewerParams.LeanRTCP (leanrtcp.go), else nil
	rtcpIn []byte    // decrypted SRTCP from the server (read goroutine)
}

type leanStream struct {
	clock     uint32
	last      uint16
	started   bool
	newFrame  bool // the previous packet ended a frame (marker)
	video, v8 bool
}

func newLeanConn(v *Viewer, loopback, gro bool) (*leanConn, error) {
	ip := net.IPv4zero
	if loopback {
		ip = net.IPv4(127, 0, 0, 1)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(1 << 20)
	lc := &leanConn{UDPConn: c, v: v, keys: &srtpkeys.Capture{}, streams: map[uint32]*leanStream{}, plain: make([]byte, 1500)}
	if gro && enableGRO(c) {
		lc.gro, lc.rbuf, lc.oob = true, make([]byte, 1<<16), make([]byte, groOOBSize)
	}
	return lc, nil
}

// leanAPI is the Pion API of one lean viewer: ICE on its own socket, DTLS observed for the
// keys. The plain lean viewer keeps Pion's default interceptors (webrtc.NewAPI adds them when
// given no registry): they see no media, but its receiver-report interceptor still sends an
// empty receiver report per track every second. A LeanRTCP viewer has none (an empty registry):
// its RTCP is leanrtcp.go's, and its offer carries the header extensions Chromium offers for
// congestion control (abs-send-time, transport-wide-cc) so the server may choose them.
func leanAPI(cfg Config, c *leanConn) (*webrtc.API, ice.UDPMux, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, nil, err
	}
	var opts []func(*webrtc.API)
	if c.rtcp != nil {
		for _, uri := range []string{sdp.ABSSendTimeURI, sdp.TransportCCURI} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, nil, err
			}
		}
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, nil, err
		}
		opts = append(opts, webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	se.SetDTLSKeyLogWriter(c.keys)
	// When the server answers as DTLS client, this viewer sends the ServerHello.
	se.SetDTLSServerHelloMessageHook(func(m handshake.MessageServerHello) handshake.Message {
		c.dtlsServer.Store(true)
		return c.keys.ServerHello(m)
	})
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, nil, err
	}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: c, Net: n})
	se.SetICEUDPMux(mux)
	return webrtc.NewAPI(append(opts, webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))...), mux, nil
}

// ReadFromAddrPort hands Pion everything but SRTP (STUN, DTLS, SRTCP); SRTP is counted here.
// Only the mux's read goroutine calls it.
func (c *leanConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.gro {
		return c.readGRO(b)
	}
	for {
		n, addr, err := c.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil {
			return n, addr, err
		}
		c.reads.Add(1)
		c.datagrams.Add(1)
		if c.take(b[:n], addr) {
			continue
		}
		return n, addr, nil
	}
}

// readGRO is ReadFromAddrPort on a socket with UDP GRO: one read may hold several datagrams of
// one flow, split by the segment size of the UDP_GRO control message (the last may be shorter).
func (c *leanConn) readGRO(b []byte) (int, netip.AddrPort, error) {
	for {
		if len(c.pend) > 0 {
			p := c.pend[0]
			c.pend[0] = nil
			c.pend = c.pend[1:]
			return copy(b, p), c.pendAddr, nil
		}
		n, oobn, _, addr, err := c.UDPConn.ReadMsgUDPAddrPort(c.rbuf, c.oob)
		if err != nil {
			return 0, addr, err
		}
		c.reads.Add(1)
		seg := groSegmentSize(c.oob[:oobn])
		if seg <= 0 || seg >= n {
			c.datagrams.Add(1)
			if c.take(c.rbuf[:n], addr) {
				continue
			}
			return copy(b, c.rbuf[:n]), addr, nil
		}
		c.coalesced.Add(1)
		c.pend, c.pendAddr = c.pend[:0], addr
		for off := 0; off < n; off += seg {
			p := c.rbuf[off:min(off+seg, n)]
			c.datagrams.Add(1)
			if !c.take(p, addr) {
				c.pend = append(c.pend, p)
			}
		}
	}
}

// take counts an SRTP datagram (true); anything else is Pion's (false). With LeanRTCP the
// server's SRTCP (sender reports) is read here too.
func (c *leanConn) take(p []byte, addr netip.AddrPort) bool {
	n := len(p)
	// RFC 7983: 128–191 is RTP or RTCP; RFC 5761: RTCP packet types are 192–223.
	if n >= 12 && p[0] >= 128 && p[0] <= 191 {
		if p[1] < 192 || p[1] > 223 {
			c.onRTP(p, addr)
			return true
		}
		if c.rtcp != nil && c.serverContext() {
			if out, err := c.ctx.DecryptRTCP(c.rtcpIn[:0], p, nil); err == nil {
				c.rtcpIn = out[:0]
				c.rtcp.senderReport(out)
			}
			return true
		}
	}
	if n > 13 && p[0] == 22 {
		c.keys.ServerHelloDatagram(p)
	}
	return false
}

// WriteToAddrPort implements ice.AddrPortReaderWriter.
func (c *leanConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

func (c *leanConn) onRTP(p []byte, addr netip.AddrPort) {
	v := c.v
	pt := p[1] & 0x7f
	marker := p[1]&0x80 != 0
	seq := binary.BigEndian.Uint16(p[2:4])
	ssrc := binary.BigEndian.Uint32(p[8:12])
	s := c.streams[ssrc]
	if s == nil {
		kind, mime := c.kind(pt)
		s = &leanStream{video: kind == webrtc.RTPCodecTypeVideo, v8: mime == webrtc.MimeTypeVP8, newFrame: true, clock: c.codecs[pt].ClockRate}
		c.streams[ssrc] = s
		v.mu.Lock()
		v.tracks = append(v.tracks, mime)
		v.mu.Unlock()
	}
	if c.rtcp != nil && !c.rtcp.packet(p, addr, seq, ssrc, s.video, s.clock) {
		return // dropped on purpose (ViewerParams.LeanDropEvery)
	}
	v.packets.Add(1)
	v.bytes.Add(int64(len(p)))
	if s.video {
		v.videoPackets.Add(1)
		if v.recovery != nil {
			v.recovery.add(seq)
		}
	} else {
		v.audioPackets.Add(1)
	}
	v.firstPacket.CompareAndSwap(0, int64(since(v.started)))
	if s.started {
		if gap := seq - s.last; gap > 1 && gap < 1000 {
			v.lost.Add(int64(gap - 1))
		}
	}
	if !s.started || seq-s.last < 0x8000 {
		s.last = seq
	}
	s.started = true
	first := s.newFrame
	s.newFrame = marker
	if !s.v8 {
		return
	}
	needKey := first && v.firstKeyframe.Load() == 0
	needStamp := marker && v.onLatency != nil
	if !needKey && !needStamp {
		return
	}
	payload := c.decrypt(p)
	if payload == nil {
		return
	}
	data, err := c.desc.Unmarshal(payload)
	if err != nil || len(data) == 0 {
		return
	}
	if needKey && c.desc.S == 1 && c.desc.PID == 0 && data[0]&0x01 == 0 {
		v.firstKeyframe.CompareAndSwap(0, int64(since(v.started)))
	}
	if needStamp {
		if d, ok := latencyOf(data); ok {
			v.onLatency(d)
		}
	}
}

// decrypt returns the payload of an SRTP packet, or nil (keys not known yet, or it fails).
func (c *leanConn) decrypt(p []byte) []byte {
	if !c.serverContext() {
		return nil
	}
	out, err := c.ctx.DecryptRTP(c.plain[:0], p, &c.hdr)
	if err != nil || len(out) < c.hdr.MarshalSize() {
		return nil
	}
	out = out[c.hdr.MarshalSize():]
	if c.hdr.Padding && len(out) > 0 {
		if pad := int(out[len(out)-1]); pad <= len(out) {
			out = out[:len(out)-pad]
		}
	}
	return out
}

// serverContext makes sure c.ctx (the server's SRTP keys) is there; false until the keys are known.
func (c *leanConn) serverContext() bool {
	if c.ctx == nil {
		ctx, err := c.keys.Context(!c.dtlsServer.Load()) // the server's packets
		if err != nil {
			return false
		}
		c.ctx = ctx
	}
	return true
}

// kind finds a payload type among the viewer's negotiated receive codecs: its kind and MIME type.
func (c *leanConn) kind(pt uint8) (webrtc.RTPCodecType, string) {
	if c.kinds == nil {
		c.kinds, c.codecs = map[uint8]webrtc.RTPCodecType{}, map[uint8]webrtc.RTPCodecParameters{}
		for _, t := range c.v.pc.GetTransceivers() {
			for _, codec := range t.Receiver().GetParameters().Codecs {
				c.kinds[uint8(codec.PayloadType)] = t.Kind()
				c.codecs[uint8(codec.PayloadType)] = codec
			}
		}
	}
	k, ok := c.kinds[pt]
	if !ok {
		return webrtc.RTPCodecTypeAudio, "unknown"
	}
	return k, c.codecs[pt].MimeType
}

// leanClose releases the lean viewer's mux and socket.
type leanCloser struct {
	once sync.Once
	mux  ice.UDPMux
	conn *leanConn
}

func (l *leanCloser) close() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		l.conn.rtcp.close()
		_ = l.mux.Close()
		_ = l.conn.Close()
	})
}
