package sfu

import (
	"bytes"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// IncomingTrack is one media track that feeds a room: a publisher's browser track today (Pion's
// *webrtc.TrackRemote, through RemoteTrack), a relay from another node tomorrow. It is just what
// the room's ingest uses: one read goroutine per track calls Read until it fails (that ends the
// track); Codec, Kind, RID and SSRC describe it once, when it arrives.
//
// A track that also implements KeyframeRequester is asked for keyframes directly (a PLI to a
// browser track goes to its publisher's peer connection instead), and one that implements
// io.Closer is closed when the room ends, which must make a blocked Read return.
type IncomingTrack interface {
	// Read reads the next RTP packet, marshalled, into b and returns its length.
	Read(b []byte) (n int, err error)
	// Codec is the track's codec (its RTCP feedback is not used).
	Codec() webrtc.RTPCodecCapability
	Kind() webrtc.RTPCodecType
	// RID is the simulcast layer ID, "" for a plain track.
	RID() string
	SSRC() webrtc.SSRC
}

// KeyframeRequester is an IncomingTrack that can ask its source for a keyframe.
type KeyframeRequester interface {
	RequestKeyframe() error
}

// RemoteTrack adapts a publisher's Pion track to IncomingTrack.
func RemoteTrack(t *webrtc.TrackRemote) IncomingTrack { return remoteTrack{t} }

type remoteTrack struct{ t *webrtc.TrackRemote }

func (r remoteTrack) Read(b []byte) (int, error) {
	n, _, err := r.t.Read(b)
	return n, err
}
func (r remoteTrack) Codec() webrtc.RTPCodecCapability { return r.t.Codec().RTPCodecCapability }
func (r remoteTrack) Kind() webrtc.RTPCodecType        { return r.t.Kind() }
func (r remoteTrack) RID() string                      { return r.t.RID() }
func (r remoteTrack) SSRC() webrtc.SSRC                { return r.t.SSRC() }

// inPacket is one received packet (its payload points into its own buffer, sized to the packet):
// the read loop reads into its scratch buffer and makes two allocations per incoming packet, the
// packet and a copy of exactly its bytes (shared by every viewer, the cache and the sinks;
// packets are immutable once published, so they are not recycled). A fixed 1,500-byte buffer per
// packet made the track's cache of 1,024 packets hold ≈ 1.7 MB whatever the stream (an Opus
// packet is ≈ 100 bytes): 3.4 MB per room of audio + video (docs/reports/rooms-idle-2026-12-07).
// Pion's ReadRTP makes two or three (buffer, packet, header-extension slice).
type inPacket struct {
	pkt rtp.Packet
	ext [4]rtp.Extension
}

// readPacket reads and parses the next packet of an incoming track, through scratch (at least
// 1,500 bytes, the caller's). A packet that does not parse is skipped (counted by the caller as
// nothing: it never reached the fan-out).
func readPacket(t IncomingTrack, scratch []byte) (*rtp.Packet, error) {
	for {
		n, err := t.Read(scratch)
		if err != nil {
			return nil, err
		}
		in := &inPacket{}
		if in.parse(bytes.Clone(scratch[:n])) {
			return &in.pkt, nil
		}
	}
}

// parse parses b (which the packet keeps); false if it is not an RTP packet.
func (in *inPacket) parse(b []byte) bool {
	in.pkt.Extensions = in.ext[:0]
	return in.pkt.Unmarshal(b) == nil
}
