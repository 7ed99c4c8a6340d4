//go:build linux

package client

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/webrtc/v4"
)

// udpSegment is UDP_SEGMENT (level SOL_UDP): the sender's GSO segment size, a uint16.
const udpSegment = 103

// sendGSO sends segs (all of len(segs[0]) but the last, which may be shorter) as ONE sendmsg
// with a UDP_SEGMENT control message, as a GSO-sending server does.
func sendGSO(t *testing.T, c *net.UDPConn, to *net.UDPAddr, segs [][]byte) {
	t.Helper()
	oob := make([]byte, syscall.CmsgSpace(2))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = solUDP, udpSegment
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[syscall.CmsgLen(0):], uint16(len(segs[0])))
	buf := bytes.Join(segs, nil)
	n, oobn, err := c.WriteMsgUDP(buf, oob, to)
	if err != nil || n != len(buf) || oobn != len(oob) {
		t.Fatalf("sendmsg with UDP_SEGMENT: %d/%d bytes, %d oob, %v", n, len(buf), oobn, err)
	}
}

func rtpPacket(seq uint16, size int) []byte {
	p := make([]byte, size)
	p[0], p[1] = 0x80, 96 // V=2, PT 96 (VP8 below), no marker
	binary.BigEndian.PutUint16(p[2:4], seq)
	binary.BigEndian.PutUint32(p[8:12], 0x1234)
	return p
}

func otherPacket(first byte, tag byte, size int) []byte {
	p := bytes.Repeat([]byte{tag}, size)
	p[0] = first
	return p
}

// A GSO message sent to the lean viewer's socket with UDP GRO on is read once and split into its
// segments: every SRTP segment is counted in order, every other one (STUN, DTLS) is handed to
// Pion, one per call, in order, none dropped; datagrams sent one by one still work.
func TestLeanConnGRO(t *testing.T) {
	v := &Viewer{started: time.Now()}
	c, err := newLeanConn(v, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.gro {
		t.Fatal("UDP_GRO could not be enabled on this kernel")
	}
	c.kinds = map[uint8]webrtc.RTPCodecType{96: webrtc.RTPCodecTypeVideo}
	c.codecs = map[uint8]webrtc.RTPCodecParameters{96: {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}}}

	snd, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	to := c.LocalAddr().(*net.UDPAddr)
	from := snd.LocalAddr().(*net.UDPAddr).AddrPort()

	// 1. 40 RTP packets of 1,100 bytes, the last one 300: one GSO message.
	var segs [][]byte
	for i := range 40 {
		size := 1100
		if i == 39 {
			size = 300
		}
		segs = append(segs, rtpPacket(uint16(1000+i), size))
	}
	sendGSO(t, snd, to, segs)
	// 2. STUN, DTLS, SRTCP and RTP mixed in one GSO message (the server never sends this, but
	// nothing may be lost if it did): Pion must get the three non-RTP ones in order.
	mixed := [][]byte{otherPacket(0x00, 'a', 200), rtpPacket(1040, 200), otherPacket(23, 'b', 200), rtpPacket(1041, 200), otherPacket(0x80, 'c', 200)}
	mixed[4][1] = 200 // an SRTCP sender report: Pion's
	sendGSO(t, snd, to, mixed)
	// 3. Plain datagrams, one sendto each: no control message, one read each.
	for i := range 5 {
		if _, err := snd.WriteToUDP(rtpPacket(uint16(1042+i), 500), to); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := snd.WriteToUDP(otherPacket(0x01, 'd', 100), to); err != nil {
		t.Fatal(err)
	}

	// Read as Pion's mux does (a buffer of its own) until the four non-RTP datagrams came.
	want := []struct {
		first, tag byte
		n          int
	}{{0x00, 'a', 200}, {23, 'b', 200}, {0x80, 'c', 200}, {0x01, 'd', 100}}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 8192)
	for i, w := range want {
		n, addr, err := c.ReadFromAddrPort(b)
		if err != nil {
			t.Fatalf("read %d: %v (packets so far %d)", i, err, v.packets.Load())
		}
		if n != w.n || b[0] != w.first || b[n-1] != w.tag || addr != netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) && addr != from {
			t.Fatalf("read %d: %d bytes %x…%c from %v, want %d bytes %x…%c from %v", i, n, b[0], b[n-1], addr, w.n, w.first, w.tag, from)
		}
	}
	if got := v.packets.Load(); got != 47 {
		t.Errorf("RTP packets counted %d, want 47", got)
	}
	if v.lost.Load() != 0 {
		t.Errorf("lost %d: segments out of order or missing", v.lost.Load())
	}
	if s := c.streams[0x1234]; s == nil || s.last != 1046 {
		t.Errorf("last sequence number %+v, want 1046", s)
	}
	wantBytes := int64(39*1100 + 300 + 2*200 + 5*500)
	if v.bytes.Load() != wantBytes {
		t.Errorf("bytes %d, want %d (segment boundaries)", v.bytes.Load(), wantBytes)
	}
	reads, coalesced, dgrams := c.reads.Load(), c.coalesced.Load(), c.datagrams.Load()
	t.Logf("reads %d, coalesced %d, datagrams %d", reads, coalesced, dgrams)
	if coalesced != 2 || dgrams != 51 || reads != 8 {
		t.Errorf("reads %d coalesced %d datagrams %d, want 8, 2, 51 (two GSO messages read whole, six plain datagrams)", reads, coalesced, dgrams)
	}
}

// With GRO off (LeanNoGRO), the same GSO message is segmented by the kernel: one read per
// datagram, the same counts.
func TestLeanConnWithoutGRO(t *testing.T) {
	v := &Viewer{started: time.Now()}
	c, err := newLeanConn(v, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.kinds = map[uint8]webrtc.RTPCodecType{96: webrtc.RTPCodecTypeVideo}
	c.codecs = map[uint8]webrtc.RTPCodecParameters{96: {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}}}
	snd, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	to := c.LocalAddr().(*net.UDPAddr)
	var segs [][]byte
	for i := range 10 {
		segs = append(segs, rtpPacket(uint16(i), 1000))
	}
	segs = append(segs, otherPacket(23, 'z', 1000))
	sendGSO(t, snd, to, segs)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 8192)
	n, _, err := c.ReadFromAddrPort(b)
	if err != nil || n != 1000 || b[0] != 23 {
		t.Fatalf("read %d bytes %v", n, err)
	}
	if v.packets.Load() != 10 || v.lost.Load() != 0 || c.reads.Load() != 11 || c.coalesced.Load() != 0 {
		t.Errorf("packets %d lost %d reads %d coalesced %d, want 10, 0, 11, 0", v.packets.Load(), v.lost.Load(), c.reads.Load(), c.coalesced.Load())
	}
}

// BenchmarkLeanRead: one op is one datagram received by a lean viewer's socket, sent as GSO
// messages of 6 × 1,100-byte RTP packets (a 1.5 Mbps VP8 frame's packets, as a GSO-sending
// server would batch them for one viewer): with UDP GRO on (one read per message) and off (the
// kernel segments each message: one read and one wake-up per datagram). cpu-ns/datagram is the
// whole process's CPU (sender included; its cost is the same in both).
func BenchmarkLeanRead(b *testing.B) {
	for _, gro := range []bool{true, false} {
		b.Run(map[bool]string{true: "gro", false: "nogro"}[gro], func(b *testing.B) {
			v := &Viewer{started: time.Now()}
			c, err := newLeanConn(v, true, gro)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if gro && !c.gro {
				b.Fatal("UDP_GRO could not be enabled")
			}
			c.kinds = map[uint8]webrtc.RTPCodecType{96: webrtc.RTPCodecTypeVideo}
			c.codecs = map[uint8]webrtc.RTPCodecParameters{96: {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}}}
			snd, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer snd.Close()
			to := c.LocalAddr().(*net.UDPAddr)
			const seg, perMsg, msgsPerRound = 1100, 6, 40 // 240 datagrams (≈ 0.6 MB of buffer) per round
			oob := make([]byte, syscall.CmsgSpace(2))
			h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
			h.Level, h.Type = solUDP, udpSegment
			h.SetLen(syscall.CmsgLen(2))
			binary.NativeEndian.PutUint16(oob[syscall.CmsgLen(0):], seg)
			msg := make([]byte, seg*perMsg)
			hdr := rtpPacket(0, 12)
			end := otherPacket(23, 'e', 100) // a non-RTP datagram ends each round: the read returns
			buf := make([]byte, 8192)
			seq := uint16(0)
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			for done := 0; done < b.N; {
				for range msgsPerRound {
					for k := range perMsg {
						copy(msg[k*seg:], hdr)
						binary.BigEndian.PutUint16(msg[k*seg+2:], seq)
						seq++
					}
					if _, _, err := snd.WriteMsgUDP(msg, oob, to); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := snd.WriteToUDP(end, to); err != nil {
					b.Fatal(err)
				}
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, _, err := c.ReadFromAddrPort(buf); err != nil {
					b.Fatalf("%v after %d packets", err, v.packets.Load())
				}
				done += msgsPerRound * perMsg
			}
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			n := v.packets.Load()
			if v.lost.Load() != 0 {
				b.Fatalf("lost %d of %d", v.lost.Load(), n)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/datagram")
			b.ReportMetric(float64(c.datagrams.Load())/float64(c.reads.Load()), "datagrams/read")
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/datagram")
		})
	}
}
