package sfu

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/pion/transport/v5/packetio"
)

// TestRTCPSinkDropsAndCloses: the read stream buffers of a direct viewer's SRTCP session take
// RTCP for an SSRC that is not one of the viewer's without holding it (Pion would buffer it for
// nobody), have nothing to read until closed, then io.EOF; the RTP streams get a bounded
// packetio buffer with deadlines. (RTCP for the viewer's own SSRCs reaching handleRTCP is what
// TestNACKAnsweredFromCache, TestLossyViewerRecoversAndOthersUnaffected and
// TestJoinStormCoalescesPLIs exercise end to end, with Pion viewers on the direct path.)
func TestRTCPSinkDropsAndCloses(t *testing.T) {
	in := &rtcpIn{tracks: map[uint32]*downTrack{}}
	rw := in.buffer(packetio.RTCPBufferPacket, 1234)
	pli := []byte{0x81, 0xce, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0x04, 0xd2}
	if n, err := rw.Write(pli); n != len(pli) || err != nil {
		t.Fatalf("write for an unknown SSRC: %d, %v", n, err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := rw.Read(make([]byte, 1500))
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("read returned %v before close", err)
	case <-time.After(50 * time.Millisecond):
	}
	_ = rw.Close()
	_ = rw.Close()
	if err := <-got; !errors.Is(err, io.EOF) {
		t.Fatalf("read after close: %v, want io.EOF", err)
	}

	rtp := in.buffer(packetio.RTPBufferPacket, 99)
	if _, err := rtp.Write([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := rtp.Read(buf); n != 3 || err != nil {
		t.Fatalf("rtp read: %d, %v", n, err)
	}
	d, ok := rtp.(interface{ SetReadDeadline(time.Time) error })
	if !ok {
		t.Fatal("the RTP buffer takes no deadline")
	}
	_ = d.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := rtp.Read(buf); err == nil {
		t.Fatal("rtp read past its deadline returned no error")
	}
	big := make([]byte, 1500)
	var full bool
	for i := 0; i < 2*srtpRTPBufferSize/len(big) && !full; i++ {
		_, err := rtp.Write(big)
		full = errors.Is(err, packetio.ErrFull)
	}
	if !full {
		t.Fatal("the RTP buffer never filled: unbounded")
	}
}
