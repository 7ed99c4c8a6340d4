package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// FilePublisherParams configures a publisher of real media files: video in IVF (VP8, VP9, AV1 or
// H.264, by the file's fourcc) or a raw H.264 Annex-B stream (.h264, .264), and Opus in Ogg with
// one packet per page (ffmpeg -c:a libopus -page_duration 20000). The video must have no
// B-frames (as every WebRTC sender). Make a test clip with:
//
//	ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 30 \
//	  -map 0:v -c:v libvpx -deadline realtime -b:v 1M -g 30 video.ivf \
//	  -map 1:a -c:a libopus -page_duration 20000 audio.ogg
//
// with -c:v libvpx-vp9 -lag-in-frames 0 (VP9, .ivf), -c:v libsvtav1 (AV1, .ivf) or
// -c:v libx264 -tune zerolatency video.h264 (H.264) for the other codecs.
type FilePublisherParams struct {
	Config
	Video string // IVF file or H.264 Annex-B file; empty = no video
	// VideoFPS is the frame rate of an Annex-B file, which carries no timestamps (default 30).
	VideoFPS int
	Audio    string // Ogg Opus file; empty = no audio
	Loop     bool   // start over at the end instead of finishing
}

// FilePublisher publishes files in real time, audio and video paced by one clock so they stay in
// sync. Unlike Publisher its video is decodable (for recording and transcoding tests).
type FilePublisher struct {
	p         FilePublisherParams
	pc        *webrtc.PeerConnection
	video     *webrtc.TrackLocalStaticSample
	audio     *webrtc.TrackLocalStaticSample
	vs, as    []fileSample
	vcodec    webrtc.RTPCodecCapability
	connected chan struct{}
	connOnce  sync.Once
	done      chan struct{}
	plis      atomic.Int64
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type fileSample struct {
	data []byte
	at   time.Duration
}

// NewFilePublisher reads the files and builds the peer connection.
func NewFilePublisher(p FilePublisherParams) (*FilePublisher, error) {
	fp := &FilePublisher{p: p, connected: make(chan struct{}), done: make(chan struct{})}
	var err error
	if p.Video != "" {
		if fp.vcodec, fp.vs, err = readVideo(p.Video, p.VideoFPS); err != nil {
			return nil, err
		}
	}
	if p.Audio != "" {
		if fp.as, err = readOgg(p.Audio); err != nil {
			return nil, err
		}
	}
	if len(fp.vs) == 0 && len(fp.as) == 0 {
		return nil, errors.New("client: file publisher: no media")
	}
	api, err := NewAPI(p.Config)
	if err != nil {
		return nil, err
	}
	if fp.pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return nil, err
	}
	fp.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			fp.connOnce.Do(func() { close(fp.connected) })
		}
	})
	add := func(c webrtc.RTPCodecCapability, id string) (*webrtc.TrackLocalStaticSample, error) {
		t, err := webrtc.NewTrackLocalStaticSample(c, id, "file")
		if err != nil {
			return nil, err
		}
		tr, err := fp.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		if c.ClockRate == 90000 {
			// Offer the file's codec only: the server must take it (no silent switch to VP8).
			if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{{RTPCodecCapability: c}}); err != nil {
				return nil, err
			}
		}
		go fp.readRTCP(tr.Sender())
		return t, nil
	}
	if len(fp.vs) > 0 {
		if fp.video, err = add(fp.vcodec, "video"); err != nil {
			_ = fp.pc.Close()
			return nil, err
		}
	}
	if len(fp.as) > 0 {
		if fp.audio, err = add(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio"); err != nil {
			_ = fp.pc.Close()
			return nil, err
		}
	}
	return fp, nil
}

// VideoCodec is the codec of the video file (empty MIME type without video).
func (fp *FilePublisher) VideoCodec() webrtc.RTPCodecCapability { return fp.vcodec }

// PC is the peer connection.
func (fp *FilePublisher) PC() *webrtc.PeerConnection { return fp.pc }

// PLIs counts keyframe requests received (a file cannot honour them; its GOP decides).
func (fp *FilePublisher) PLIs() int64 { return fp.plis.Load() }

// Done is closed when the files have been sent (never with Loop).
func (fp *FilePublisher) Done() <-chan struct{} { return fp.done }

// Duration is the length of the media.
func (fp *FilePublisher) Duration() time.Duration {
	var d time.Duration
	if n := len(fp.vs); n > 0 {
		d = fp.vs[n-1].at + 33*time.Millisecond
	}
	if n := len(fp.as); n > 0 {
		d = max(d, fp.as[n-1].at+20*time.Millisecond)
	}
	return d
}

func (fp *FilePublisher) readRTCP(s *webrtc.RTPSender) {
	readKeyframeRequests(s, func() {
		fp.plis.Add(1)
	})
}

// Connect negotiates through ex, waits for the connection and starts sending.
func (fp *FilePublisher) Connect(ctx context.Context, ex Exchange) error {
	if err := negotiate(ctx, fp.pc, ex, fp.connected); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.Background())
	fp.cancel = cancel
	t0 := time.Now()
	var sent sync.WaitGroup
	for _, x := range []struct {
		t *webrtc.TrackLocalStaticSample
		s []fileSample
	}{{fp.video, fp.vs}, {fp.audio, fp.as}} {
		if x.t == nil {
			continue
		}
		fp.wg.Add(1)
		sent.Add(1)
		go func() {
			defer fp.wg.Done()
			defer sent.Done()
			fp.send(sctx, t0, x.t, x.s)
		}()
	}
	fp.wg.Add(1)
	go func() {
		defer fp.wg.Done()
		sent.Wait()
		close(fp.done)
	}()
	return nil
}

func (fp *FilePublisher) send(ctx context.Context, t0 time.Time, t *webrtc.TrackLocalStaticSample, s []fileSample) {
	loopLen := fp.Duration()
	for loop := 0; ; loop++ {
		base := t0.Add(time.Duration(loop) * loopLen)
		for i, smp := range s {
			d := 20 * time.Millisecond
			if i+1 < len(s) {
				d = s[i+1].at - smp.at
			} else if t == fp.video {
				d = 33 * time.Millisecond
			}
			if wait := time.Until(base.Add(smp.at)); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			} else if ctx.Err() != nil {
				return
			}
			if err := t.WriteSample(media.Sample{Data: smp.data, Duration: d}); err != nil {
				return
			}
		}
		if !fp.p.Loop {
			return
		}
	}
}

// Close stops sending and closes the connection.
func (fp *FilePublisher) Close() error {
	fp.closeOnce.Do(func() {
		if fp.cancel != nil {
			fp.cancel()
		}
		fp.wg.Wait()
		_ = fp.pc.Close()
	})
	return nil
}

// readOgg reads an Ogg Opus file with one packet per page, 20 ms per packet.
func readOgg(path string) ([]fileSample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", path, err)
	}
	var out []fileSample
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("client: %s: %w", path, err)
		}
		if len(page) >= 8 && (string(page[:8]) == "OpusTags" || string(page[:8]) == "OpusHead") {
			continue
		}
		out = append(out, fileSample{data: page, at: time.Duration(len(out)) * 20 * time.Millisecond})
	}
}
