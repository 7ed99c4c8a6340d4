package sfu

import (
	"bytes"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// recordingWriter keeps the last header written to it.
type recordingWriter struct {
	n    int
	last rtp.Header
	buf  [1500]byte
}

func (w *recordingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.n++
	w.last = *h
	n, err := h.MarshalTo(w.buf[:])
	if err != nil {
		return 0, err
	}
	return n + copy(w.buf[n:], payload), nil
}

func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }

func fuzzTrack() (*upTrack, *downTrack, *recordingWriter) {
	s := &SFU{}
	r := &room{s: s, name: "fuzz"}
	u := &upTrack{room: r, kind: webrtc.RTPCodecTypeAudio, codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}}
	lt := newLocalTrack(u.codec, u.kind, "audio", "fuzz")
	w := &recordingWriter{}
	lt.b.Store(&binding{ssrc: 777, pt: 111, w: w})
	return u, &downTrack{up: u, local: lt, sub: &Subscriber{room: r}}, w
}

// FuzzIngest feeds arbitrary datagrams (as decrypted by SRTP) through the parsing and rewriting
// the read loop does, and writes what survives to a viewer: nothing may panic, and a forwarded
// packet carries the viewer's SSRC and payload type and no header extension.
func FuzzIngest(f *testing.F) {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 9, SSRC: 5}
	_ = h.SetExtension(1, []byte{1, 2})
	good, _ := (&rtp.Packet{Header: h, Payload: []byte{1, 2, 3}}).Marshal()
	f.Add(good)
	f.Add(good[:11])
	f.Add([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})                   // no payload (a probe)
	f.Add([]byte{0xBF, 0xE0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xff}) // 15 CSRCs claimed, truncated
	f.Add([]byte{0xA0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9, 200})     // padding longer than the packet
	f.Fuzz(func(t *testing.T, data []byte) {
		u, d, w := fuzzTrack()
		for i := 0; i < 2; i++ { // twice: the second pass exercises the renumbering state
			in := &inPacket{}
			if !in.parse(bytes.Clone(data)) || !u.prepare(&in.pkt) {
				continue
			}
			u.cache.put(&in.pkt)
			if _, err := d.local.write(&in.pkt); err != nil {
				continue
			}
			if w.last.SSRC != 777 || w.last.PayloadType != 111 || w.last.Extension {
				t.Fatalf("forwarded header %+v", w.last)
			}
		}
	})
}

// FuzzRTCP feeds arbitrary RTCP (as decrypted by SRTCP) from a viewer to the SFU's handler: it
// must not panic, and however many packets one compound packet NACKs, at most the per-second
// resend budget is retransmitted.
func FuzzRTCP(f *testing.F) {
	mk := func(pkts ...rtcp.Packet) []byte { b, _ := rtcp.Marshal(pkts); return b }
	f.Add(mk(&rtcp.PictureLossIndication{MediaSSRC: 777}))
	f.Add(mk(&rtcp.TransportLayerNack{MediaSSRC: 777, Nacks: []rtcp.NackPair{{PacketID: 0, LostPackets: 0xffff}, {PacketID: 100, LostPackets: 0xffff}}}))
	f.Add(mk(&rtcp.ReceiverReport{SSRC: 1}, &rtcp.FullIntraRequest{MediaSSRC: 777}))
	f.Add([]byte{0x81, 205, 0xff, 0xff, 0, 0, 0, 1}) // NACK claiming a huge length
	f.Add([]byte{0x80, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		u, d, w := fuzzTrack()
		for i := 0; i < 200; i++ {
			u.cache.put(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: []byte{1}})
		}
		d.sub.handleRTCP(d, data)
		d.sub.handleRTCP(d, data)
		if w.n > maxResendPerSec {
			t.Fatalf("%d packets resent, budget %d", w.n, maxResendPerSec)
		}
	})
}
