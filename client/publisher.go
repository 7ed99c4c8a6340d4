package client

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// PublisherParams configures a synthetic publisher.
type PublisherParams struct {
	Config
	// VideoMime is the video codec (default VP8). Empty VideoMime and NoVideo sends audio only.
	VideoMime string
	NoVideo   bool
	NoAudio   bool
	// Bitrate of the video in bits/s (default 1.5 Mbps); 30 frames/s, a keyframe every 2 s and on PLI.
	Bitrate int
	// Simulcast sends the video as three RID layers q, h, f (VP8 or H.264; see SimulcastRIDs);
	// Bitrate is the top layer's.
	Simulcast bool
	// KeyframesOnRequest (simulcast noise): a keyframe only first and on PLI, never every 2 s —
	// as Chrome's encoder (see also IgnoreNextPLIs).
	KeyframesOnRequest bool
	// Media, if set, is real pre-encoded VP8 + Opus sent in a loop instead of noise (loop.go):
	// decodable by browsers and recordings. Bitrate is then the loop's, and VideoMime VP8 (or
	// H.264 with Simulcast: H264Frames).
	Media *Loop
}

// Publisher sends synthetic video at 30 frames/s and audio every 20 ms: without
// PublisherParams.Media, VP8-shaped frames (a real keyframe header so viewers can find
// keyframes; the content is noise, not decodable video) and Opus-sized noise packets; with it,
// a pre-encoded loop of real media. VP8 frames carry their send time (loop.go's stamp).
type Publisher struct {
	p         PublisherParams
	pc        *webrtc.PeerConnection
	video     *webrtc.TrackLocalStaticSample
	audio     *webrtc.TrackLocalStaticSample
	connected chan struct{}
	connOnce  sync.Once
	failed    chan struct{}
	failOnce  sync.Once

	plis      atomic.Int64
	forceKey  atomic.Bool
	sim       *simulcastVideo
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewPublisher builds the peer connection and tracks.
func NewPublisher(p PublisherParams) (*Publisher, error) {
	if p.Bitrate <= 0 {
		p.Bitrate = 1_500_000
	}
	if p.VideoMime == "" {
		p.VideoMime = webrtc.MimeTypeVP8
	}
	if p.Media != nil {
		if !strings.EqualFold(p.VideoMime, webrtc.MimeTypeVP8) && !(p.Simulcast && strings.EqualFold(p.VideoMime, webrtc.MimeTypeH264)) {
			return nil, fmt.Errorf("%w: a media loop is VP8 (or H.264 simulcast), not %s", ErrBadLoop, p.VideoMime)
		}
		if !p.NoVideo {
			if err := p.Media.validate(p.Simulcast); err != nil {
				return nil, err
			}
		}
		if !p.NoAudio && len(p.Media.Audio) == 0 {
			return nil, fmt.Errorf("%w: no audio packets", ErrBadLoop)
		}
	}
	api, err := NewAPI(p.Config)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	pub := &Publisher{p: p, pc: pc, connected: make(chan struct{}), failed: make(chan struct{})}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			pub.connOnce.Do(func() { close(pub.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			pub.failOnce.Do(func() { close(pub.failed) })
		}
	})
	if !p.NoVideo && p.Simulcast {
		if err := pub.addSimulcastVideo(); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	if !p.NoVideo && !p.Simulcast {
		pub.video, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: p.VideoMime}, "video", "synthetic")
		if err != nil {
			return nil, err
		}
		sender, err := pc.AddTransceiverFromTrack(pub.video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		go pub.readRTCP(sender.Sender())
	}
	if !p.NoAudio {
		pub.audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "synthetic")
		if err != nil {
			return nil, err
		}
		sender, err := pc.AddTransceiverFromTrack(pub.audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		go pub.readRTCP(sender.Sender())
	}
	return pub, nil
}

// PC exposes the peer connection (for stats).
func (p *Publisher) PC() *webrtc.PeerConnection { return p.pc }

// PLIs is the number of keyframe requests received.
func (p *Publisher) PLIs() int64 { return p.plis.Load() }

// Failed is closed when the connection failed or closed.
func (p *Publisher) Failed() <-chan struct{} { return p.failed }

func (p *Publisher) readRTCP(s *webrtc.RTPSender) {
	readKeyframeRequests(s, func() {
		p.plis.Add(1)
		p.forceKey.Store(true)
	})
}

// Connect negotiates through ex, waits for the connection and starts sending media.
func (p *Publisher) Connect(ctx context.Context, ex Exchange) error {
	if err := negotiate(ctx, p.pc, ex, p.connected); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if p.video != nil {
		p.wg.Add(1)
		go p.sendVideo(sctx)
	}
	if p.sim != nil {
		p.wg.Add(1)
		go p.sendSimulcast(sctx)
	}
	if p.audio != nil {
		p.wg.Add(1)
		go p.sendAudio(sctx)
	}
	return nil
}

// Close stops sending and closes the connection.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		p.wg.Wait()
		_ = p.pc.Close()
	})
	return nil
}

func (p *Publisher) sendVideo(ctx context.Context) {
	defer p.wg.Done()
	const fps = 30
	frameBytes := p.p.Bitrate / 8 / fps
	t := time.NewTicker(time.Second / fps)
	defer t.Stop()
	if p.p.Media != nil {
		cur := &loopCursor{frames: p.p.Media.Video}
		pace := &pacer{t0: time.Now(), period: time.Second / fps}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for range pace.due() {
				f := cur.next(p.forceKey.Swap(false))
				if err := p.video.WriteSample(media.Sample{Data: stamped(f.Data, time.Now()), Duration: time.Second / fps}); err != nil {
					return
				}
			}
		}
	}
	buf := make([]byte, frameBytes*4)
	_, _ = rand.Read(buf)
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		key := n%(2*fps) == 0 || p.forceKey.Swap(false)
		size := frameBytes
		if key {
			size = frameBytes * 3
		}
		frame := make([]byte, size)
		copy(frame, buf[:size])
		switch {
		case strings.EqualFold(p.p.VideoMime, webrtc.MimeTypeVP9):
			// A VP9 "show existing frame" header: enough for the RTP payloader, which parses it.
			frame[0] = 0x88
		case strings.EqualFold(p.p.VideoMime, webrtc.MimeTypeAV1):
			// One OBU_FRAME without a size field (it runs to the end): the payloader parses OBUs.
			frame[0] = 6 << 3
		case strings.EqualFold(p.p.VideoMime, webrtc.MimeTypeH264):
			// One NAL unit: an IDR slice for keyframes, a non-IDR slice otherwise (the payloader
			// drops some NAL types, so the header must not be left to chance).
			frame[0] = 0x41
			if key {
				frame[0] = 0x65
			}
		default:
			markVP8(frame, key)
			frame = stamped(frame, time.Now())
		}
		if err := p.video.WriteSample(media.Sample{Data: frame, Duration: time.Second / fps}); err != nil {
			return
		}
	}
}

func (p *Publisher) sendAudio(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	frame := make([]byte, 120) // ~48 kbps
	_, _ = rand.Read(frame)
	packets := [][]byte{frame}
	due := func() int { return 1 }
	if p.p.Media != nil {
		packets = p.p.Media.Audio
		pace := &pacer{t0: time.Now(), period: 20 * time.Millisecond}
		due = pace.due
	}
	for i := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range due() {
			if err := p.audio.WriteSample(media.Sample{Data: packets[i], Duration: 20 * time.Millisecond}); err != nil {
				return
			}
			i = (i + 1) % len(packets)
		}
	}
}

// markVP8 writes a VP8 frame tag: bit 0 of byte 0 is 0 for keyframes; keyframes carry the start
// code and a 640x360 size so parsers that look at the header see a plausible keyframe.
func markVP8(f []byte, key bool) {
	if len(f) < 10 {
		return
	}
	if key {
		f[0] &^= 0x01
		f[3], f[4], f[5] = 0x9d, 0x01, 0x2a
		f[6], f[7], f[8], f[9] = 0x80, 0x02, 0x68, 0x01
	} else {
		f[0] |= 0x01
	}
}
