package livehls

import (
	"fmt"
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

const (
	videoTimescale = 90000
	videoTrackID   = 1
	audioTrackID   = 2
)

// ticks converts media time to a timescale, rounding to the nearest tick.
func ticks(d time.Duration, scale int) int64 {
	return (int64(d)*int64(scale) + int64(time.Second)/2) / int64(time.Second)
}

// marshalInit builds the init section: the H.264 track and, with audio, the AAC track.
func marshalInit(sps, pps []byte, audio *audioTrack) ([]byte, error) {
	in := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID: videoTrackID, TimeScale: videoTimescale,
		Codec: &fmp4.CodecH264{SPS: sps, PPS: pps},
	}}}
	if audio != nil {
		in.Tracks = append(in.Tracks, &fmp4.InitTrack{
			ID: audioTrackID, TimeScale: uint32(audio.rate),
			Codec: &fmp4.CodecMPEG4Audio{Config: audio.config},
		})
	}
	var buf seekablebuffer.Buffer
	if err := in.Marshal(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// marshalPart builds one CMAF chunk (moof+mdat) of the part's video samples and audio frames.
func marshalPart(seq uint32, sp *sealedPart, audio []aframe, rate int) ([]byte, error) {
	vt := &fmp4.PartTrack{ID: videoTrackID, BaseTime: uint64(ticks(sp.start, videoTimescale))}
	t := sp.start
	for i := range sp.samples {
		sm := &sp.samples[i]
		next := t + sm.dur
		vt.Samples = append(vt.Samples, &fmp4.Sample{
			Duration:        uint32(ticks(next, videoTimescale) - ticks(t, videoTimescale)),
			PTSOffset:       int32(ticks(sm.pts-sm.dts, videoTimescale)),
			IsNonSyncSample: !sm.sync,
			Payload:         sm.payload,
		})
		t = next
	}
	p := fmp4.Part{SequenceNumber: seq, Tracks: []*fmp4.PartTrack{vt}}
	if len(audio) > 0 {
		at := &fmp4.PartTrack{ID: audioTrackID, BaseTime: uint64(ticks(audio[0].pts, rate))}
		for _, f := range audio {
			at.Samples = append(at.Samples, &fmp4.Sample{Duration: aacFrameSamples, Payload: f.data})
		}
		p.Tracks = append(p.Tracks, at)
	}
	var buf seekablebuffer.Buffer
	if err := p.Marshal(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// codecsString is the CODECS attribute: avc1.PPCCLL from the SPS, mp4a.40.N from the ASC.
func codecsString(sps []byte, audio *audioTrack) string {
	c := "avc1.42e01f"
	if len(sps) >= 4 {
		c = fmt.Sprintf("avc1.%02x%02x%02x", sps[1], sps[2], sps[3])
	}
	if audio != nil {
		c += "," + audio.codec
	}
	return c
}

// clen is a ready Content-Length header value (shared, never modified).
func clen(n int) []string { return []string{strconv.Itoa(n)} }

func (s *Stream) audioRate() int {
	if s.audio == nil {
		return 0
	}
	return s.audio.rate
}
