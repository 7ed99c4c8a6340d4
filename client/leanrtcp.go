package client

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// The RTCP of a lean viewer (ViewerParams.LeanRTCP): what Chromium's receive side sends, built
// on the lean viewer's own counting of the RTP headers and sealed with the viewer's own SRTCP
// context (the keys learned from the DTLS handshake), written straight to the viewer's socket. No
// Pion PeerConnection RTCP path, no interceptors. Per received SSRC, every second, a receiver
// report (RFC 3550 6.4.2: fraction lost since the last report, cumulative lost, extended highest
// sequence number, interarrival jitter, LSR/DLSR from the last sender report the server sent)
// in a compound with SDES CNAME, plus REMB for video when the server's answer offers goog-remb.
// Generic NACKs (RFC 4585, reduced size as Chromium sends them with rtcp-rsize) for video
// sequence numbers that are missing after a short reorder wait, retried every nackRetry up to
// nackMaxTries times, as libwebrtc's NackRequester does (its retry interval is the RTT, 100 ms
// before one is known). Transport-wide congestion control feedback only if the server
// negotiates the transport-cc header extension: relaycast does not for viewers (sfu/codecs.go,
// sfu.go newAPI), so TWCCNegotiated reports it and no feedback is sent.

const (
	rrInterval    = time.Second
	nackReorder   = 10 * time.Millisecond  // wait this long for a reordered packet before NACKing
	nackRetry     = 100 * time.Millisecond // libwebrtc: the RTT, 100 ms by default
	nackMaxTries  = 10                     // libwebrtc kMaxNackRetries
	nackMaxList   = 1000                   // libwebrtc kMaxNackPackets: beyond this the list is cleared
	twccExtension = "transport-wide-cc"
)

// RTCPStats is what a lean-RTCP viewer sent and what came back.
type RTCPStats struct {
	ReceiverReports int64 // RR packets sent (one per received SSRC per second)
	REMBs           int64 // REMB packets sent (video, only if negotiated)
	NACKPackets     int64 // generic NACK packets sent
	NACKedSeqs      int64 // sequence numbers requested in them (retries included)
	TWCCFeedback    int64 // transport-cc feedback packets sent (0: not negotiated)
	Retransmits     int64 // NACKed packets that then arrived (the server's retransmissions)
	SenderReports   int64 // sender reports received from the server
	SendErrors      int64 // RTCP packets that could not be sealed or written
	Dropped         int64 // video packets dropped on purpose (ViewerParams.LeanDropEvery)
	REMBNegotiated  bool
	TWCCNegotiated  bool
}

type rtcpStream struct {
	ssrc          uint32
	clock         float64 // RTP clock rate (Hz)
	video         bool
	started       bool
	base, max     uint16
	cycles        uint32
	received      uint32
	expPrior      uint32
	recvPrior     uint32
	transit       float64
	jitter        float64
	lastTS        uint32
	bytes         int64 // since the last report (REMB estimate)
	lsr           uint32
	srAt          time.Time
	nacks         map[uint32]*nackItem // extended seq → state
	videoArrivals int64
}

type nackItem struct {
	due   time.Time
	tries int
}

// leanRTCP is the per-viewer RTCP state. The read goroutine updates it per packet (under mu);
// the viewer's RTCP goroutine sends reports and NACKs.
type leanRTCP struct {
	c         *leanConn
	ssrc      uint32
	cname     string
	dropEvery int64
	epoch     time.Time

	mu      sync.Mutex
	streams map[uint32]*rtcpStream
	list    []*rtcpStream
	remote  netip.AddrPort
	out     *srtp.Context // seals what this viewer sends
	sendBuf []byte
	started bool
	closed  bool

	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	negOnce sync.Once
	remb    atomic.Bool
	twcc    atomic.Bool

	rrs, rembs, nackPkts, nackSeqs, twccs, retrans, srs, sendErrs, dropped atomic.Int64
}

func newLeanRTCP(c *leanConn, dropEvery int) *leanRTCP {
	return &leanRTCP{
		c: c, ssrc: rand.Uint32() | 1, cname: "lean-" + randomCNAME(), dropEvery: int64(dropEvery), epoch: time.Now(),
		streams: map[uint32]*rtcpStream{}, sendBuf: make([]byte, 0, 1500),
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

func randomCNAME() string {
	const a = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	for i := range b {
		b[i] = a[rand.IntN(len(a))]
	}
	return string(b)
}

// packet accounts one SRTP packet from addr (read goroutine). It reports false when the packet
// is to be treated as never received (the drop seam).
func (r *leanRTCP) packet(p []byte, addr netip.AddrPort, seq uint16, ssrc uint32, video bool, clock uint32) bool {
	now := time.Now()
	ts := binary.BigEndian.Uint32(p[4:8])
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started && !r.closed {
		r.started, r.remote = true, addr
		r.wg.Add(1)
		go r.run()
	}
	s := r.streams[ssrc]
	if s == nil {
		if clock == 0 {
			clock = 90000
		}
		s = &rtcpStream{ssrc: ssrc, clock: float64(clock), video: video}
		if video {
			s.nacks = map[uint32]*nackItem{}
		}
		r.streams[ssrc] = s
		r.list = append(r.list, s)
	}
	if !s.started {
		s.started, s.base, s.max = true, seq, seq
		s.received, s.lastTS = 1, ts
		s.bytes += int64(len(p))
		s.transit = now.Sub(r.epoch).Seconds()*s.clock - float64(ts)
		if video {
			s.videoArrivals++
		}
		return true
	}
	ahead := seq - s.max // > 0 and < 0x8000: newer than any so far
	newer := ahead != 0 && ahead < 0x8000
	if video {
		s.videoArrivals++
		if r.dropEvery > 0 && newer && s.videoArrivals%r.dropEvery == 0 {
			r.dropped.Add(1)
			return false
		}
	}
	s.received++
	s.bytes += int64(len(p))
	if !newer {
		if s.nacks != nil {
			ext := s.cycles | uint32(seq)
			if seq > s.max { // before the last wrap
				ext -= 1 << 16
			}
			if _, ok := s.nacks[ext]; ok {
				delete(s.nacks, ext)
				r.retrans.Add(1)
				r.c.v.lost.Add(-1) // counted lost at the gap; it came back
			}
		}
		return true
	}
	if seq < s.max {
		s.cycles += 1 << 16
	}
	if s.nacks != nil && ahead > 1 {
		if len(s.nacks)+int(ahead-1) > nackMaxList {
			clear(s.nacks)
		} else {
			for q := s.max + 1; q != seq; q++ {
				ext := s.cycles | uint32(q)
				if q > seq {
					ext -= 1 << 16
				}
				s.nacks[ext] = &nackItem{due: now.Add(nackReorder)}
			}
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}
	}
	s.max = seq
	// RFC 3550 A.8 interarrival jitter, over in-order packets of a new timestamp (as libwebrtc).
	if ts != s.lastTS {
		transit := now.Sub(r.epoch).Seconds()*s.clock - float64(ts)
		d := transit - s.transit
		if d < 0 {
			d = -d
		}
		s.jitter += (d - s.jitter) / 16
		s.transit, s.lastTS = transit, ts
	}
	return true
}

// senderReport takes a decrypted compound RTCP packet from the server (read goroutine).
func (r *leanRTCP) senderReport(plain []byte) {
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range pkts {
		sr, ok := p.(*rtcp.SenderReport)
		if !ok {
			continue
		}
		r.srs.Add(1)
		if s := r.streams[sr.SSRC]; s != nil {
			s.lsr, s.srAt = uint32(sr.NTPTime>>16), now
		}
	}
}

// negotiated reads the server's answer once: REMB and transport-cc are sent only if offered.
func (r *leanRTCP) negotiated() {
	r.negOnce.Do(func() {
		d := r.c.v.pc.RemoteDescription()
		if d == nil {
			return
		}
		r.remb.Store(strings.Contains(d.SDP, "goog-remb"))
		r.twcc.Store(strings.Contains(d.SDP, twccExtension) && strings.Contains(d.SDP, "transport-cc"))
	})
}

// run sends the reports every second and the NACKs when due, until close.
func (r *leanRTCP) run() {
	defer r.wg.Done()
	nextRR := time.Now().Add(rrInterval)
	t := time.NewTimer(rrInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-r.kick:
		case <-t.C:
		}
		now := time.Now()
		r.negotiated()
		if !now.Before(nextRR) {
			r.reports(now)
			nextRR = now.Add(rrInterval)
		}
		next := r.nack(now)
		if next.IsZero() || next.After(nextRR) {
			next = nextRR
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(max(time.Until(next), time.Millisecond))
	}
}

// reports sends one compound per stream: RR + SDES (+ REMB for video when negotiated).
func (r *leanRTCP) reports(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.list {
		ext := s.cycles | uint32(s.max)
		expected := ext - uint32(s.base) + 1
		lost := int64(expected) - int64(s.received)
		expInt, recvInt := expected-s.expPrior, s.received-s.recvPrior
		s.expPrior, s.recvPrior = expected, s.received
		var frac uint8
		if lostInt := int64(expInt) - int64(recvInt); expInt > 0 && lostInt > 0 {
			frac = uint8(lostInt << 8 / int64(expInt))
		}
		var dlsr uint32
		if s.lsr != 0 {
			dlsr = uint32(now.Sub(s.srAt).Seconds() * 65536)
		}
		lost = min(max(lost, -0x800000), 0x7fffff)
		pkts := []rtcp.Packet{
			&rtcp.ReceiverReport{SSRC: r.ssrc, Reports: []rtcp.ReceptionReport{{
				SSRC: s.ssrc, FractionLost: frac, TotalLost: uint32(lost) & 0xffffff, LastSequenceNumber: ext,
				Jitter: uint32(s.jitter), LastSenderReport: s.lsr, Delay: dlsr,
			}}},
			&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: r.ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: r.cname}}}}},
		}
		remb := s.video && r.remb.Load()
		if remb {
			// A stand-in for the receive-side estimate: what arrived over the interval, with
			// headroom, never below 300 kbps (a real estimator follows abs-send-time deltas).
			bps := max(float32(s.bytes*8)*1.5, 300_000)
			pkts = append(pkts, &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: r.ssrc, Bitrate: bps, SSRCs: []uint32{s.ssrc}})
		}
		s.bytes = 0
		if r.send(pkts) {
			r.rrs.Add(1)
			if remb {
				r.rembs.Add(1)
			}
		}
	}
}

// nack sends the NACKs that are due and returns when the next one is (zero: none pending).
func (r *leanRTCP) nack(now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	var seqs []uint16
	for _, s := range r.list {
		if len(s.nacks) == 0 {
			continue
		}
		seqs = seqs[:0]
		for ext, it := range s.nacks {
			if it.due.After(now) {
				if next.IsZero() || it.due.Before(next) {
					next = it.due
				}
				continue
			}
			if it.tries >= nackMaxTries {
				delete(s.nacks, ext)
				continue
			}
			it.tries++
			it.due = now.Add(nackRetry)
			if next.IsZero() || it.due.Before(next) {
				next = it.due
			}
			seqs = append(seqs, uint16(ext))
		}
		if len(seqs) == 0 {
			continue
		}
		sortSeqs(seqs)
		if r.send([]rtcp.Packet{&rtcp.TransportLayerNack{SenderSSRC: r.ssrc, MediaSSRC: s.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}}) {
			r.nackPkts.Add(1)
			r.nackSeqs.Add(int64(len(seqs)))
		}
	}
	return next
}

// sortSeqs orders sequence numbers by distance from the first one (wrap-aware, small lists).
func sortSeqs(s []uint16) {
	if len(s) < 2 {
		return
	}
	lo := s[0]
	for _, q := range s {
		if int16(q-lo) < 0 {
			lo = q
		}
	}
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j]-lo < s[j-1]-lo; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// send seals and writes one compound packet (mu held).
func (r *leanRTCP) send(pkts []rtcp.Packet) bool {
	if r.out == nil {
		out, err := r.c.keys.Context(r.c.dtlsServer.Load()) // what this viewer sends
		if err != nil {
			r.sendErrs.Add(1)
			return false
		}
		r.out = out
	}
	plain, err := rtcp.Marshal(pkts)
	if err != nil {
		r.sendErrs.Add(1)
		return false
	}
	sealed, err := r.out.EncryptRTCP(r.sendBuf[:0], plain, nil)
	if err != nil {
		r.sendErrs.Add(1)
		return false
	}
	r.sendBuf = sealed[:0]
	if _, err := r.c.UDPConn.WriteToUDPAddrPort(sealed, r.remote); err != nil {
		r.sendErrs.Add(1)
		return false
	}
	return true
}

func (r *leanRTCP) stats() RTCPStats {
	return RTCPStats{
		ReceiverReports: r.rrs.Load(), REMBs: r.rembs.Load(), NACKPackets: r.nackPkts.Load(), NACKedSeqs: r.nackSeqs.Load(),
		TWCCFeedback: r.twccs.Load(), Retransmits: r.retrans.Load(), SenderReports: r.srs.Load(), SendErrors: r.sendErrs.Load(),
		Dropped: r.dropped.Load(), REMBNegotiated: r.remb.Load(), TWCCNegotiated: r.twcc.Load(),
	}
}

func (r *leanRTCP) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.done)
	}
	r.mu.Unlock()
	r.wg.Wait()
}
