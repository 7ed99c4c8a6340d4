package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// ViewerParams configures a measuring viewer.
type ViewerParams struct {
	Config
	// OnLatency, if set, is called from the read goroutine with the publisher → viewer latency of
	// every VP8 frame that carries a send-time stamp, measured when its last packet arrives (the
	// synthetic Publisher stamps each frame, loop.go; both ends must share a clock, i.e. run on
	// one machine). Keep it cheap.
	OnLatency func(time.Duration)
	// TrackRecovery remembers every video sequence number received, so Stats can tell packets
	// that never arrived (Missing) from ones that arrived late (retransmitted after a NACK).
	TrackRecovery bool
	// Lean counts SRTP packets below Pion instead of receiving tracks through it (lean.go): far
	// cheaper for the load generator, the same for the server. No NACKs or receiver reports.
	Lean bool
	// LeanNoGRO leaves UDP GRO off on the lean viewer's socket (lean.go): every datagram is one
	// read, as before GRO, for comparison runs.
	LeanNoGRO bool
	// LeanRTCP makes a lean viewer send RTCP as Chromium's receive side does (leanrtcp.go):
	// receiver reports every second per SSRC, NACKs on loss, REMB and transport-cc feedback if
	// the server negotiates them. Only with Lean.
	LeanRTCP bool
	// LeanDropEvery (with LeanRTCP), if > 0, treats every Nth new video packet as lost (a test
	// seam and a loss knob: the viewer NACKs it, and counts the retransmission when it comes).
	// With LeanRTCP, Stats.Lost counts only the packets that never came back.
	LeanDropEvery int
}

// Viewer receives a room's tracks and measures them: packets, bytes, sequence gaps (loss),
// time to first packet and to first VP8 keyframe.
type Viewer struct {
	pc        *webrtc.PeerConnection
	started   time.Time
	connected chan struct{}
	connOnce  sync.Once
	closed    chan struct{}
	closeOnce sync.Once
	pcClosed  chan struct{}
	pcOnce    sync.Once
	wg        sync.WaitGroup

	packets, bytes, lost atomic.Int64
	videoPackets         atomic.Int64
	audioPackets         atomic.Int64
	firstPacket          atomic.Int64 // ns since started
	firstKeyframe        atomic.Int64
	mu                   sync.Mutex
	tracks               []string
	onLatency            func(time.Duration)
	recovery             *seqSet
	lean                 *leanCloser
}

// seqSet records unwrapped sequence numbers of one track.
type seqSet struct {
	mu       sync.Mutex
	seen     map[int64]struct{}
	min, max int64
	started  bool
}

func (s *seqSet) add(seq uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ext int64
	if !s.started {
		ext, s.min, s.max, s.started = int64(seq), int64(seq), int64(seq), true
	} else {
		// Unwrap relative to the highest seen.
		ext = s.max + int64(int16(seq-uint16(s.max)))
	}
	s.seen[ext] = struct{}{}
	if ext > s.max {
		s.max = ext
	}
	if ext < s.min {
		s.min = ext
	}
}

// missing counts sequence numbers never received between the first and max-tail.
func (s *seqSet) missing(tail int64) (missing, span int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for q := s.min; q <= s.max-tail; q++ {
		span++
		if _, ok := s.seen[q]; !ok {
			missing++
		}
	}
	return missing, span
}

// NewViewer builds a peer connection with recvonly audio and video.
func NewViewer(p ViewerParams) (*Viewer, error) {
	var rec *seqSet
	if p.TrackRecovery {
		rec = &seqSet{seen: map[int64]struct{}{}}
	}
	v := &Viewer{recovery: rec, onLatency: p.OnLatency, connected: make(chan struct{}), closed: make(chan struct{}), pcClosed: make(chan struct{})}
	api, err := NewAPI(p.Config)
	if p.Lean {
		var c *leanConn
		if c, err = newLeanConn(v, p.Loopback, !p.LeanNoGRO); err != nil {
			return nil, err
		}
		if p.LeanRTCP {
			c.rtcp = newLeanRTCP(c, p.LeanDropEvery)
		}
		v.lean = &leanCloser{conn: c}
		api, v.lean.mux, err = leanAPI(p.Config, c)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		v.lean.close()
		return nil, err
	}
	v.pc = pc
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			v.connOnce.Do(func() { close(v.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			v.pcOnce.Do(func() { close(v.pcClosed) })
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.mu.Lock()
		v.tracks = append(v.tracks, t.Codec().MimeType)
		v.mu.Unlock()
		v.wg.Add(1)
		go v.read(t)
	})
	return v, nil
}

// Connect negotiates through ex and waits for the connection.
func (v *Viewer) Connect(ctx context.Context, ex Exchange) error {
	v.started = time.Now()
	return negotiate(ctx, v.pc, ex, v.connected)
}

func (v *Viewer) read(t *webrtc.TrackRemote) {
	defer v.wg.Done()
	isVP8 := t.Codec().MimeType == webrtc.MimeTypeVP8
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	var last uint16
	first := true
	var pkt rtp.Packet
	buf := make([]byte, 1600)
	var vp8 codecs.VP8Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		v.packets.Add(1)
		v.bytes.Add(int64(n))
		if video {
			v.videoPackets.Add(1)
			if v.recovery != nil {
				v.recovery.add(pkt.SequenceNumber)
			}
		} else {
			v.audioPackets.Add(1)
		}
		v.firstPacket.CompareAndSwap(0, int64(since(v.started)))
		if !first {
			if gap := pkt.SequenceNumber - last; gap > 1 && gap < 1000 {
				v.lost.Add(int64(gap - 1))
			}
		}
		if first || pkt.SequenceNumber-last < 0x8000 {
			last = pkt.SequenceNumber
		}
		first = false
		if isVP8 && v.onLatency != nil && pkt.Marker {
			if payload, err := vp8.Unmarshal(pkt.Payload); err == nil {
				if d, ok := latencyOf(payload); ok {
					v.onLatency(d)
				}
			}
		}
		if isVP8 && v.firstKeyframe.Load() == 0 {
			if payload, err := vp8.Unmarshal(pkt.Payload); err == nil && vp8.S == 1 && vp8.PID == 0 && len(payload) > 0 && payload[0]&0x01 == 0 {
				v.firstKeyframe.CompareAndSwap(0, int64(since(v.started)))
			}
		}
	}
}

// Stats is what a viewer measured.
type Stats struct {
	Packets, Bytes, Lost       int64
	VideoPackets, AudioPackets int64
	FirstPacket, FirstKeyframe time.Duration // since Connect started; 0 = not yet
	Tracks                     []string
	// Lean viewers: socket reads that returned data, those that held more than one datagram
	// (UDP GRO), and the datagrams they held.
	Reads, CoalescedReads, Datagrams int64
	// RTCP is what a LeanRTCP viewer sent (zero otherwise).
	RTCP RTCPStats
}

// Stats returns the measurements so far.
func (v *Viewer) Stats() Stats {
	v.mu.Lock()
	tracks := append([]string(nil), v.tracks...)
	v.mu.Unlock()
	var reads, coalesced, datagrams int64
	var rs RTCPStats
	if v.lean != nil {
		reads, coalesced, datagrams = v.lean.conn.reads.Load(), v.lean.conn.coalesced.Load(), v.lean.conn.datagrams.Load()
		if v.lean.conn.rtcp != nil {
			rs = v.lean.conn.rtcp.stats()
		}
	}
	return Stats{
		RTCP:  rs,
		Reads: reads, CoalescedReads: coalesced, Datagrams: datagrams,
		Packets: v.packets.Load(), Bytes: v.bytes.Load(), Lost: v.lost.Load(),
		VideoPackets: v.videoPackets.Load(), AudioPackets: v.audioPackets.Load(),
		FirstPacket: time.Duration(v.firstPacket.Load()), FirstKeyframe: time.Duration(v.firstKeyframe.Load()),
		Tracks: tracks,
	}
}

// Disconnected is closed when the server ended the connection (or it failed).
func (v *Viewer) Disconnected() <-chan struct{} { return v.pcClosed }

// PC exposes the peer connection.
func (v *Viewer) PC() *webrtc.PeerConnection { return v.pc }

// Close closes the connection and waits for the read goroutines.
func (v *Viewer) Close() error {
	v.closeOnce.Do(func() {
		_ = v.pc.Close()
		v.wg.Wait()
		v.lean.close()
	})
	return nil
}

// Missing reports, with TrackRecovery, how many video packets between the first one and the
// newest minus tail never arrived (not even retransmitted), out of span.
func (v *Viewer) Missing(tail int64) (missing, span int64) {
	if v.recovery == nil {
		return 0, 0
	}
	return v.recovery.missing(tail)
}
