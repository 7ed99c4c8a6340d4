package livehls

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// The fMP4 (CMAF) boxes come from mediacommon's fmp4 package: one init section per variant and
// parameter set (video track 1 at 90 kHz, the AAC track 2 at its sample rate), one moof+mdat per
// part.

// makeInit builds the init section of the variant's current SPS/PPS and the stream's audio
// (s.mu held).
func (v *Variant) makeInit() (*initSection, error) {
	var info h264.SPS
	if err := info.Unmarshal(v.sps); err != nil {
		return nil, fmt.Errorf("%w: SPS: %v", ErrBadInput, err)
	}
	tracks := []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &fmp4.CodecH264{SPS: v.sps, PPS: v.pps}}}
	codecs := fmt.Sprintf("avc1.%02x%02x%02x", v.sps[1], v.sps[2], v.sps[3])
	gen := 0
	if a := v.s.audio; a != nil {
		tracks = append(tracks, &fmp4.InitTrack{ID: 2, TimeScale: uint32(a.rate), Codec: &fmp4.CodecMPEG4Audio{Config: a.asc}})
		codecs += fmt.Sprintf(",mp4a.40.%d", int(a.asc.Type))
		gen = a.gen
	}
	var buf seekablebuffer.Buffer
	if err := (&fmp4.Init{Tracks: tracks}).Marshal(&buf); err != nil {
		return nil, fmt.Errorf("%w: init section: %v", ErrBadInput, err)
	}
	v.initSeq++
	in := &initSection{seq: v.initSeq, data: buf.Bytes(), codecs: codecs, width: info.Width(), height: info.Height(),
		fps: info.FPS(), audioGen: gen, spsCopy: append([]byte(nil), v.sps...)}
	if v.p.Width > 0 && v.p.Height > 0 {
		in.width, in.height = v.p.Width, v.p.Height
	}
	return in, nil
}

// marshalPart is one part's moof+mdat.
func marshalPart(p *fmp4.Part) ([]byte, error) {
	var buf seekablebuffer.Buffer
	if err := p.Marshal(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
