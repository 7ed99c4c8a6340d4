package transcode

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/sfu"
)

// The loadtest's synthetic publisher (client.Publisher) sends noise: VP8-shaped frames with
// random bodies and one fixed random block as every Opus packet. These helpers record the same
// kind of media through the real recorder, so the handler sees the files a broadcast leaves.

type noiseRoom struct{ video sfu.TrackInfo }

func (noiseRoom) Name() string     { return "noise" }
func (noiseRoom) RequestKeyframe() {}
func (r noiseRoom) Tracks() []sfu.TrackInfo {
	return []sfu.TrackInfo{r.video, nAudio}
}

var (
	nVP8   = sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, SSRC: 1}
	nH264  = sfu.TrackInfo{Index: 0, Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, SSRC: 1}
	nAudio = sfu.TrackInfo{Index: 1, Kind: webrtc.RTPCodecTypeAudio, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}, SSRC: 2}
)

// noiseOpus is dur of Opus packets (20 ms each) that are one fixed block of bytes. A first byte
// of 0xff (code 3, then a frame count of 0) is a packet ffmpeg refuses ("Error parsing the
// packet header"), as about a quarter of the synthetic publisher's random blocks are.
func noiseOpus(dur time.Duration, toc byte) []testmedia.Sample {
	block := make([]byte, 120)
	for i := range block {
		block[i] = byte(i*37 + 11)
	}
	block[0], block[1] = toc, 0
	var out []testmedia.Sample
	for at := time.Duration(0); at < dur; at += 20 * time.Millisecond {
		out = append(out, testmedia.Sample{Data: block, At: at})
	}
	return out
}

// noiseVP8 is dur of 30 fps VP8-shaped noise frames (a keyframe header every 2 s, as
// client.Publisher marks them), which no decoder turns into a picture.
func noiseVP8(dur time.Duration) []testmedia.Sample {
	var out []testmedia.Sample
	for i := 0; time.Duration(i)*time.Second/30 < dur; i++ {
		frame := make([]byte, 2000)
		for j := range frame {
			frame[j] = byte((j*131 + i*17) ^ (j >> 3))
		}
		if i%60 == 0 {
			frame[0] &^= 0x01
			frame[3], frame[4], frame[5] = 0x9d, 0x01, 0x2a
			frame[6], frame[7], frame[8], frame[9] = 0x80, 0x02, 0x68, 0x01
		} else {
			frame[0] |= 0x01
		}
		out = append(out, testmedia.Sample{Data: frame, At: time.Duration(i) * time.Second / 30, Video: true})
	}
	return out
}

// clipSamples is a real clip's video (codec testmedia.CodecVP8 or CodecH264) of dur at fps
// frames a second, or its audio (Opus that decodes).
func clipSamples(t *testing.T, codec string, fps int, dur time.Duration, audio bool) []testmedia.Sample {
	t.Helper()
	v, a, err := testmedia.Generate(testmedia.Params{Dir: t.TempDir(), Duration: dur, Codec: codec, FPS: fps})
	if err != nil {
		t.Fatal(err)
	}
	if audio {
		v = ""
	} else {
		a = ""
	}
	s, err := testmedia.Read(v, a)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recordSamples runs samples (video in the codec of video) through the recorder as RTP on a fake
// clock and returns the chunks it wrote.
func recordSamples(t *testing.T, video sfu.TrackInfo, samples []testmedia.Sample, chunk time.Duration) []recorder.ChunkInfo {
	t.Helper()
	var merged []testmedia.Sample
	merged = append(merged, samples...)
	sortByTime(merged)
	now := time.Now()
	var chunks []recorder.ChunkInfo
	r, err := recorder.New(recorder.Params{Dir: t.TempDir(), ChunkDuration: chunk, Now: func() time.Time { return now },
		Hooks: recorder.Hooks{Chunk: func(c recorder.ChunkInfo) { chunks = append(chunks, c) }}})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Attach(noiseRoom{video: video})
	var vpay rtp.Payloader = &codecs.VP8Payloader{}
	if video.Codec.MimeType == webrtc.MimeTypeH264 {
		vpay = &codecs.H264Payloader{}
	}
	vp := rtp.NewPacketizer(1200, 96, 1, vpay, rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 111, 2, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	t0 := now
	for _, smp := range merged {
		info, pz, rate := nAudio, ap, 48000.0
		if smp.Video {
			info, pz, rate = video, vp, 90000
		}
		now = t0.Add(smp.At)
		for _, p := range pz.Packetize(smp.Data, 0) {
			p.Timestamp = uint32(smp.At.Seconds() * rate)
			if err := s.WriteRTP(info, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return chunks
}

func sortByTime(s []testmedia.Sample) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].At < s[j-1].At; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
