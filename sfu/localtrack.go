package sfu

import (
	"strings"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// localTrack is a viewer's outgoing copy of a publisher track: a lean webrtc.TrackLocal with one
// binding and one writer goroutine (the viewer's), so writing takes no lock and allocates nothing.
type localTrack struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	codec        webrtc.RTPCodecCapability

	b      atomic.Pointer[binding]
	hdr    rtp.Header
	rtxHdr rtp.Header

	// What was sent, for the sender reports the SFU writes itself (srsched.go).
	sentPackets, sentOctets atomic.Uint32
	lastTS                  atomic.Uint32 // RTP timestamp of the newest packet written
	lastAt                  atomic.Int64  // monoNow() when it arrived (writeAt) or was written
}

type binding struct {
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

func newLocalTrack(codec webrtc.RTPCodecCapability, kind webrtc.RTPCodecType, id, streamID string) *localTrack {
	return &localTrack{id: id, streamID: streamID, kind: kind, codec: codec}
}

// Bind picks the viewer's payload type for our codec (webrtc.TrackLocal).
func (t *localTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, ok := matchCodec(t.codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.b.Store(&binding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()})
	return c, nil
}

// Unbind stops writing (webrtc.TrackLocal).
func (t *localTrack) Unbind(webrtc.TrackLocalContext) error {
	t.b.Store(nil)
	return nil
}

func (t *localTrack) ID() string                { return t.id }
func (t *localTrack) RID() string               { return "" }
func (t *localTrack) StreamID() string          { return t.streamID }
func (t *localTrack) Kind() webrtc.RTPCodecType { return t.kind }

// write sends p with the viewer's SSRC and payload type. Only the viewer's writer calls it.
func (t *localTrack) write(p *rtp.Packet) (int, error) { return t.writeAt(p, monoNow()) }

// writeAt is write for a packet whose time is known: the writer groups pass the packet's arrival
// (monoNow() taken once by the read loop), which the sender reports map its RTP timestamp to,
// instead of reading the clock again per packet and viewer (≈ 33 ns here, 1.5 % of the send
// path's user time; docs/PERFORMANCE.md, "User-space send cost").
func (t *localTrack) writeAt(p *rtp.Packet, at int64) (int, error) {
	n, err := t.send(&t.hdr, p, false)
	if err == nil && n > 0 {
		t.lastTS.Store(p.Timestamp)
		t.lastAt.Store(at)
	}
	return n, err
}

// resend retransmits p (a NACK answer). Only the viewer's RTCP goroutine calls it.
func (t *localTrack) resend(p *rtp.Packet) (int, error) { return t.send(&t.rtxHdr, p, true) }

// beginBatch tells the viewer's direct writer that the writer group is about to write n (> 1)
// packets to it, which it may send as one GSO message; endBatch follows them.
func (t *localTrack) beginBatch(n int) {
	if w := t.direct(); w != nil {
		w.begin(n)
	}
}

// endBatch queues what the direct writer gathered since beginBatch.
func (t *localTrack) endBatch() {
	if w := t.direct(); w != nil {
		w.end()
	}
}

func (t *localTrack) direct() *directWriter {
	if b := t.b.Load(); b != nil {
		w, _ := b.w.(*directWriter)
		return w
	}
	return nil
}

func (t *localTrack) send(hdr *rtp.Header, p *rtp.Packet, resend bool) (int, error) {
	b := t.b.Load()
	if b == nil {
		return 0, nil
	}
	*hdr = p.Header
	hdr.SSRC = b.ssrc
	hdr.PayloadType = b.pt
	// The payload excludes the publisher's padding, so the copy has none.
	hdr.Padding, hdr.PaddingSize = false, 0
	var n int
	var err error
	if w, ok := b.w.(*directWriter); ok && resend {
		n, err = w.writeNow(hdr, p.Payload) // after, not inside, a GSO run being gathered
	} else {
		n, err = b.w.WriteRTP(hdr, p.Payload)
	}
	if err == nil && n > 0 {
		t.sentPackets.Add(1)
		t.sentOctets.Add(uint32(len(p.Payload)))
	}
	return n, err
}

// useWriter replaces the binding's writer (the direct send path); false if the track is not
// bound (the viewer's answer did not include it).
func (t *localTrack) useWriter(w webrtc.TrackLocalWriter) bool {
	b := t.b.Load()
	if b == nil {
		return false
	}
	t.b.Store(&binding{ssrc: b.ssrc, pt: b.pt, w: w})
	return true
}

// matchCodec finds our codec among the viewer's: same MIME type and, for H.264, the same
// packetization mode and profile (VP9: profile-id); failing that, the same MIME type.
func matchCodec(c webrtc.RTPCodecCapability, offered []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var partial *webrtc.RTPCodecParameters
	for i, o := range offered {
		if !strings.EqualFold(o.MimeType, c.MimeType) || o.ClockRate != c.ClockRate {
			continue
		}
		if fmtpCompatible(c.MimeType, c.SDPFmtpLine, o.SDPFmtpLine) {
			return o, true
		}
		if partial == nil {
			partial = &offered[i]
		}
	}
	if partial != nil {
		return *partial, true
	}
	return webrtc.RTPCodecParameters{}, false
}

func fmtpCompatible(mime, a, b string) bool {
	pa, pb := parseFmtp(a), parseFmtp(b)
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeH264):
		pla, plb := pa["profile-level-id"], pb["profile-level-id"]
		return pa["packetization-mode"] == pb["packetization-mode"] &&
			len(pla) >= 4 && len(plb) >= 4 && strings.EqualFold(pla[:4], plb[:4])
	case strings.ToLower(webrtc.MimeTypeVP9):
		return defaultStr(pa["profile-id"], "0") == defaultStr(pb["profile-id"], "0")
	}
	return true
}

func parseFmtp(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			m[strings.ToLower(k)] = v
		}
	}
	return m
}

func defaultStr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
