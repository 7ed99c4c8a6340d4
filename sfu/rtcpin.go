package sfu

import (
	"io"
	"sync"
	"time"

	"github.com/pion/transport/v5/packetio"
	"github.com/pion/webrtc/v4"
)

// A viewer's RTCP without a goroutine of its own per track (issue 16, memory per viewer). Pion's
// SRTCP session decrypts what the viewer sends and writes each RTCP packet into the read stream of
// every SSRC it names; those streams' buffers come from the SettingEngine's BufferFactory. A
// viewer on the direct send path has an API of its own (viewerAPI), so its factory hands out
// rtcpSinks that pass a packet for one of the viewer's tracks straight to handleRTCP, in the SRTCP
// session's goroutine, instead of a packetio buffer that two rtcpLoop goroutines (one per track,
// ≈ 10 KiB of stacks, buffers and goroutine state a viewer) drain. RTCP naming any other SSRC
// is dropped (Pion would buffer up to 100 KB of it for nobody). The viewer's RTP read streams,
// which a viewer never uses, get a packetio buffer limited as Pion's default.
//
// The viewer's RTCP handling is therefore serial, in one goroutine for all its tracks (the
// resendGuard and simView rely on one goroutine per track).

// rtcpIn routes one viewer's RTCP to its tracks by SSRC.
type rtcpIn struct {
	mu     sync.Mutex
	sub    *Subscriber
	tracks map[uint32]*downTrack // the SSRCs the viewer's senders send
}

// srtpRTPBufferSize is the limit of a viewer's RTP read stream (pion/srtp's default for RTP).
const srtpRTPBufferSize = 1000 * 1000

// buffer is the viewer's SettingEngine.BufferFactory.
func (in *rtcpIn) buffer(kind packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
	if kind == packetio.RTCPBufferPacket {
		return &rtcpSink{in: in, ssrc: ssrc, done: make(chan struct{})}
	}
	b := packetio.NewBuffer()
	b.SetLimitSize(srtpRTPBufferSize)
	return rtpBuffer{b}
}

// add maps the sender's SSRCs to d.
func (in *rtcpIn) add(d *downTrack, sender *webrtc.RTPSender) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range sender.GetParameters().Encodings {
		in.tracks[uint32(e.SSRC)] = d
	}
}

func (in *rtcpIn) track(ssrc uint32) *downTrack {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.tracks[ssrc]
}

// open makes Pion open the senders' RTCP read streams (declared streams, not undeclared ones
// its processor would warn about) once SRTP is up: SetReadDeadline does that without a Read.
// Called in a goroutine of its own when the connection is up; it returns at once then.
func (in *rtcpIn) open(senders []*webrtc.RTPSender) {
	for _, s := range senders {
		_ = s.SetReadDeadline(time.Time{})
	}
}

// rtcpSink is the read stream buffer of one SSRC: Write handles the packet, Read has nothing to
// give (nobody reads it) and returns io.EOF once closed.
type rtcpSink struct {
	in   *rtcpIn
	ssrc uint32
	once sync.Once
	done chan struct{}
}

func (s *rtcpSink) Write(p []byte) (int, error) {
	if d := s.in.track(s.ssrc); d != nil {
		select {
		case <-s.done:
		default:
			s.in.sub.handleRTCP(d, p)
		}
	}
	return len(p), nil
}

func (s *rtcpSink) Read([]byte) (int, error) {
	<-s.done
	return 0, io.EOF
}

func (s *rtcpSink) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

// rtpBuffer makes a packetio.Buffer a read stream buffer (io.ReadWriteCloser, with attributes
// and deadlines passed through).
type rtpBuffer struct{ b *packetio.Buffer }

func (r rtpBuffer) Read(p []byte) (int, error) {
	n, _, err := r.b.Read(p, nil)
	return n, err
}

func (r rtpBuffer) Write(p []byte) (int, error) { return r.b.Write(p, nil) }

func (r rtpBuffer) ReadWithAttributes(p []byte, a packetio.Attributes) (int, packetio.Attributes, error) {
	return r.b.Read(p, a)
}

func (r rtpBuffer) WriteWithAttributes(p []byte, a packetio.Attributes) (int, error) {
	return r.b.Write(p, a)
}

func (r rtpBuffer) SetReadDeadline(t time.Time) error { return r.b.SetReadDeadline(t) }

func (r rtpBuffer) Close() error { return r.b.Close() }
