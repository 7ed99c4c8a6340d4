package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// An RTX packet (RFC 4588) becomes the packet it repairs: original sequence number, the track's
// SSRC and payload type, its payload without the OSN, no padding; padding-only probes vanish.
func TestUnwrapRTX(t *testing.T) {
	in := &pubIngest{}
	d := &directIn{ssrc: 0x1111, pt: 96}
	orig := []byte{1, 2, 3, 4, 5}
	rtx := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 97, SequenceNumber: 900, Timestamp: 1234, SSRC: 0x2222,
		Padding: true, PaddingSize: 3}, Payload: append([]byte{0x12, 0x34}, orig...)}
	_ = rtx.SetExtension(3, []byte{0xaa, 0xbb})
	b, err := rtx.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := in.unwrapRTX(b, d)
	var p rtp.Packet
	if err := p.Unmarshal(out); err != nil {
		t.Fatal(err)
	}
	if p.SequenceNumber != 0x1234 || p.SSRC != 0x1111 || p.PayloadType != 96 || !p.Marker || p.Timestamp != 1234 || p.Padding || string(p.Payload) != string(orig) {
		t.Fatalf("unwrapped %+v payload %v", p.Header, p.Payload)
	}
	if ext := p.GetExtension(3); len(ext) != 2 {
		t.Fatalf("extension lost: %v", ext)
	}
	probe := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 97, SequenceNumber: 901, SSRC: 0x2222, Padding: true, PaddingSize: 200}}
	b, _ = probe.Marshal()
	if in.unwrapRTX(b, d) != nil {
		t.Fatal("a padding-only probe was unwrapped")
	}
}

func TestCryptexProfile(t *testing.T) {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}, Payload: []byte{1}}
	_ = p.SetExtension(1, []byte{1, 2})
	b, _ := p.Marshal()
	if cryptex(b) {
		t.Fatal("0xBEDE taken for Cryptex")
	}
	b[12], b[13] = 0xc0, 0xde
	if !cryptex(b) {
		t.Fatal("0xC0DE not seen as Cryptex")
	}
	if cryptex(b[:13]) || cryptex([]byte{0x90, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Fatal("short packet")
	}
}

// TWCC feedback goes out once per interval while packets arrive, and its timer is not armed
// once they stop: an idle publisher wakes nothing.
func TestTWCCFeedbackSleepsWhenIdle(t *testing.T) {
	sent := make(chan []rtcp.Packet, 16)
	var f twccFeedback
	f.init(func(p []rtcp.Packet) { sent <- p })
	for i := 0; i < 5; i++ {
		f.record(1, uint16(i), time.Now())
	}
	select {
	case pkts := <-sent:
		if _, ok := pkts[0].(*rtcp.TransportLayerCC); !ok {
			t.Fatalf("sent %T", pkts[0])
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no feedback")
	}
	time.Sleep(3 * ingestInterval)
	f.mu.Lock()
	armed := f.armed
	f.mu.Unlock()
	if armed || len(sent) != 0 {
		t.Fatalf("idle: armed %v, %d more feedback packets", armed, len(sent))
	}
	f.record(1, 5, time.Now())
	select {
	case <-sent:
	case <-time.After(2 * time.Second):
		t.Fatal("no feedback after the pause")
	}
	f.close()
}
