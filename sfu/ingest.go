package sfu

import (
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// inPacket is one received packet and the buffer its payload points into, allocated together:
// the read loop makes one allocation per incoming packet (shared by every viewer, the cache and
// the sinks; packets are immutable once published, so they are not recycled). Pion's ReadRTP
// makes two or three (buffer, packet, header-extension slice).
type inPacket struct {
	pkt rtp.Packet
	ext [4]rtp.Extension
	buf [1500]byte
}

// readPacket reads and parses the next packet of a publisher track. A packet that does not
// parse is skipped (counted by the caller as nothing: it never reached the fan-out).
func readPacket(t *webrtc.TrackRemote) (*rtp.Packet, error) {
	for {
		in := &inPacket{}
		n, _, err := t.Read(in.buf[:])
		if err != nil {
			return nil, err
		}
		if in.parse(n) {
			return &in.pkt, nil
		}
	}
}

// parse parses the first n bytes of the buffer; false if they are not an RTP packet.
func (in *inPacket) parse(n int) bool {
	in.pkt.Extensions = in.ext[:0]
	return in.pkt.Unmarshal(in.buf[:n]) == nil
}
