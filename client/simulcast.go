package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// SimulcastRIDs are the layers a simulcast Publisher sends, lowest quality first, as relaycast's
// broadcast page names them.
var SimulcastRIDs = []string{"q", "h", "f"}

// simLayer is one RID encoding of the synthetic simulcast video.
type simLayer struct {
	rid      string
	track    *webrtc.TrackLocalStaticRTP
	pz       rtp.Packetizer
	bitrate  int
	w, h     uint16
	forceKey atomic.Bool
	ignore   atomic.Int64 // keyframe requests still to ignore (IgnoreNextPLIs)
	paused   atomic.Bool
	plis     atomic.Int64
}

// simulcastVideo holds the layers and the header-extension IDs negotiated for mid and rid.
type simulcastVideo struct {
	layers    []*simLayer
	sender    *webrtc.RTPSender
	tr        *webrtc.RTPTransceiver
	midID     uint8
	ridID     uint8
	mid       string
	ext       atomic.Bool // extension IDs known
	extMu     sync.Mutex
	vp8, h264 bool
}

// addSimulcastVideo adds three RID encodings (q, h, f at 1/10, 1/3 and all of the bitrate, 320,
// 640 and 1280 pixels wide) of one video track.
func (p *Publisher) addSimulcastVideo() error {
	sv := &simulcastVideo{}
	mime := p.p.VideoMime
	sv.vp8 = strings.EqualFold(mime, webrtc.MimeTypeVP8)
	sv.h264 = strings.EqualFold(mime, webrtc.MimeTypeH264)
	if !sv.vp8 && !sv.h264 {
		return fmt.Errorf("simulcast publisher: %s is not supported (VP8 or H.264)", mime)
	}
	div := map[string]int{"q": 10, "h": 3, "f": 1}
	width := map[string]uint16{"q": 320, "h": 640, "f": 1280}
	for i, rid := range SimulcastRIDs {
		t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime}, "video", "synthetic", webrtc.WithRTPStreamID(rid))
		if err != nil {
			return err
		}
		var pl rtp.Payloader = &codecs.H264Payloader{}
		if sv.vp8 {
			pl = newVP8Payloader()
		}
		l := &simLayer{rid: rid, track: t, bitrate: p.p.Bitrate / div[rid], w: width[rid], h: width[rid] * 9 / 16,
			pz: rtp.NewPacketizer(1200, 0, 0, pl, rtp.NewRandomSequencer(), 90000)}
		sv.layers = append(sv.layers, l)
		if i == 0 {
			tr, err := p.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				return err
			}
			sv.sender, sv.tr = tr.Sender(), tr
			continue
		}
		if err := sv.sender.AddEncoding(t); err != nil {
			return err
		}
	}
	for _, l := range sv.layers {
		go func(l *simLayer) {
			for {
				pkts, _, err := sv.sender.ReadSimulcastRTCP(l.rid)
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						l.plis.Add(1)
						p.plis.Add(1)
						if l.ignore.Add(-1) < 0 {
							l.ignore.Store(0)
							l.forceKey.Store(true)
						}
					}
				}
			}
		}(l)
	}
	p.sim = sv
	return nil
}

// SetLayerActive stops (false) or resumes (true) sending one simulcast layer, as a browser does
// when its bandwidth estimate drops.
func (p *Publisher) SetLayerActive(rid string, active bool) {
	if p.sim == nil {
		return
	}
	for _, l := range p.sim.layers {
		if l.rid == rid {
			l.paused.Store(!active)
		}
	}
}

// IgnoreNextPLIs makes every simulcast layer ignore its next n keyframe requests (an encoder
// not ready yet, as a just-republished browser's).
func (p *Publisher) IgnoreNextPLIs(n int) {
	if p.sim == nil {
		return
	}
	for _, l := range p.sim.layers {
		l.ignore.Store(int64(n))
	}
}

// LayerPLIs is the number of keyframe requests a simulcast layer received.
func (p *Publisher) LayerPLIs(rid string) int64 {
	if p.sim == nil {
		return 0
	}
	for _, l := range p.sim.layers {
		if l.rid == rid {
			return l.plis.Load()
		}
	}
	return 0
}

// extIDs reads the negotiated mid/rid extension IDs and the mid (after the answer is applied).
func (sv *simulcastVideo) extIDs() bool {
	if sv.ext.Load() {
		return true
	}
	sv.extMu.Lock()
	defer sv.extMu.Unlock()
	for _, e := range sv.sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			sv.midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			sv.ridID = uint8(e.ID)
		}
	}
	sv.mid = sv.tr.Mid()
	if sv.midID == 0 || sv.ridID == 0 || sv.mid == "" {
		return false
	}
	sv.ext.Store(true)
	return true
}

func (p *Publisher) sendSimulcast(ctx context.Context) {
	defer p.wg.Done()
	const fps = 30
	t := time.NewTicker(time.Second / fps)
	defer t.Stop()
	noise := make([]byte, p.p.Bitrate/8/fps*4)
	_, _ = rand.Read(noise)
	sv := p.sim
	var curs []*loopCursor
	resume := make([]bool, len(sv.layers))
	if p.p.Media != nil {
		for _, frames := range p.p.Media.Layers {
			curs = append(curs, &loopCursor{frames: frames})
		}
	}
	pace := &pacer{t0: time.Now(), period: time.Second / fps}
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !sv.extIDs() {
			continue
		}
		frames := 1
		if curs != nil {
			frames = pace.due()
		}
		for range frames {
			if !p.sendSimulcastFrame(sv, n, curs, resume, noise) {
				return
			}
		}
	}
}

// sendSimulcastFrame sends one frame of every active layer; false when the track is closed.
func (p *Publisher) sendSimulcastFrame(sv *simulcastVideo, n int, curs []*loopCursor, resume []bool, noise []byte) bool {
	const fps = 30
	now := time.Now()
	for i, l := range sv.layers {
		var frame []byte
		switch {
		case curs != nil:
			if l.paused.Load() {
				resume[i] = true // a resumed layer starts on a keyframe, as a browser's does
				l.pz.SkipSamples(90000 / fps)
				continue
			}
			f := curs[i].next(l.forceKey.Swap(false) || resume[i])
			resume[i] = false
			frame = f.Data
			if sv.vp8 { // the send time after the frame (H.264's would be slice data)
				frame = stamped(f.Data, now)
			}
		default:
			key := l.forceKey.Swap(false) || n == 0 || (!p.p.KeyframesOnRequest && n%(2*fps) == 0)
			if l.paused.Load() {
				l.pz.SkipSamples(90000 / fps)
				continue
			}
			size := max(l.bitrate/8/fps, 40)
			if key {
				size *= 3
			}
			frame = make([]byte, size)
			copy(frame, noise)
			if sv.vp8 {
				markVP8Size(frame, key, l.w, l.h)
				frame = stamped(frame, now)
			} else {
				frame = h264Frame(frame, key)
			}
		}
		for _, pkt := range l.pz.Packetize(frame, 90000/fps) {
			pkt.Header.Extension = true
			pkt.Header.ExtensionProfile = 0xBEDE
			_ = pkt.Header.SetExtension(sv.midID, []byte(sv.mid))
			_ = pkt.Header.SetExtension(sv.ridID, []byte(l.rid))
			if err := l.track.WriteRTP(pkt); err != nil {
				return false
			}
		}
	}
	return true
}

// markVP8Size is markVP8 with the layer's frame size in the keyframe header.
func markVP8Size(f []byte, key bool, w, h uint16) {
	markVP8(f, key)
	if key && len(f) >= 10 {
		binary.LittleEndian.PutUint16(f[6:8], w)
		binary.LittleEndian.PutUint16(f[8:10], h)
	}
}

// h264Frame prefixes an Annex B start code and one NAL header (IDR or non-IDR slice); keyframes
// carry an SPS and a PPS first, as encoders send them.
func h264Frame(body []byte, key bool) []byte {
	start := []byte{0, 0, 0, 1}
	var out []byte
	if key {
		out = append(out, start...)
		out = append(out, 0x67, 0x42, 0x00, 0x1f, 0xe9) // SPS
		out = append(out, start...)
		out = append(out, 0x68, 0xce, 0x38, 0x80) // PPS
	}
	out = append(out, start...)
	nal := byte(0x41)
	if key {
		nal = 0x65
	}
	out = append(out, nal)
	// The body must not contain start codes; noise rarely does, but make sure.
	for i := range body {
		if body[i] == 0 {
			body[i] = 1
		}
	}
	return append(out, body...)
}

// vp8Payloader writes the VP8 payload descriptor with a 15-bit picture ID and a TL0PICIDX, both
// starting at random values (each simulcast layer has its own, like a browser's encoder), so a
// viewer can check that the SFU keeps them continuous across layer switches.
type vp8Payloader struct {
	pic uint16
	tl0 uint8
}

func newVP8Payloader() *vp8Payloader {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return &vp8Payloader{pic: binary.BigEndian.Uint16(b[:2]) & 0x7fff, tl0: b[2]}
}

// Payload splits one frame into packets (rtp.Payloader).
func (v *vp8Payloader) Payload(mtu uint16, frame []byte) [][]byte {
	const hdr = 5 // X|S byte, I|L byte, 2 picture ID bytes, TL0PICIDX
	maxChunk := int(mtu) - hdr
	if maxChunk <= 0 || len(frame) == 0 {
		return nil
	}
	var out [][]byte
	for i := 0; i < len(frame); i += maxChunk {
		end := min(i+maxChunk, len(frame))
		p := make([]byte, hdr+end-i)
		p[0] = 0x80 // X
		if i == 0 {
			p[0] |= 0x10 // S, partition 0
		}
		p[1] = 0xC0 // I, L
		p[2] = 0x80 | byte(v.pic>>8)
		p[3] = byte(v.pic)
		p[4] = v.tl0
		copy(p[hdr:], frame[i:end])
		out = append(out, p)
	}
	v.pic = (v.pic + 1) & 0x7fff
	v.tl0++
	return out
}
