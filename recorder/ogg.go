package recorder

import (
	"encoding/binary"
	"os"
	"slices"
)

// oggWriter writes an Ogg Opus file, one packet per page. The granule position comes from the
// RTP timestamp (48 kHz), so lost packets leave a gap in time instead of shifting what follows.
// Pages are gathered in memory and written whole by flush, several in one write(2) (the sink
// flushes every writeBatch): the file stays readable after a crash up to the last page written.
// The header pages go with the first audio pages; chunk.json names the file only after them.
type oggWriter struct {
	f      *os.File
	serial uint32
	seq    uint32
	buf    []byte // pages not written yet
}

var oggCRC = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func newOgg(path string, serial uint32) (*oggWriter, error) {
	f, err := createFresh(path)
	if err != nil {
		return nil, err
	}
	w := &oggWriter{f: f, serial: serial}
	head := make([]byte, 19)
	copy(head, "OpusHead")
	head[8] = 1                                 // version
	head[9] = 2                                 // channels
	binary.LittleEndian.PutUint16(head[10:], 0) // pre-skip: none, timing stays exact
	binary.LittleEndian.PutUint32(head[12:], 48000)
	tags := make([]byte, 0, 32)
	tags = append(tags, "OpusTags"...)
	tags = binary.LittleEndian.AppendUint32(tags, 9)
	tags = append(tags, "relaycast"...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	w.page(head, 0, 0x02)
	w.page(tags, 0, 0)
	return w, nil
}

// page adds a page holding data to the pages not written yet.
func (w *oggWriter) page(data []byte, granule int64, flags byte) {
	nseg := len(data)/255 + 1
	start := len(w.buf)
	w.buf = slices.Grow(w.buf, 27+nseg+len(data))[:start+27+nseg]
	clear(w.buf[start:])
	w.buf = append(w.buf, data...)
	p := w.buf[start:]
	copy(p, "OggS")
	p[5] = flags
	binary.LittleEndian.PutUint64(p[6:], uint64(granule))
	binary.LittleEndian.PutUint32(p[14:], w.serial)
	binary.LittleEndian.PutUint32(p[18:], w.seq)
	p[26] = byte(nseg)
	for i := range nseg - 1 {
		p[27+i] = 255
	}
	p[27+nseg-1] = byte(len(data) % 255)
	var crc uint32
	for _, b := range p {
		crc = crc<<8 ^ oggCRC[byte(crc>>24)^b]
	}
	binary.LittleEndian.PutUint32(p[22:], crc)
	w.seq++
}

// write adds an Opus packet whose first sample is at pts (48 kHz units from the file start); it
// reaches the file at the next flush.
func (w *oggWriter) write(pkt []byte, pts int64) error {
	if len(pkt) == 0 || len(pkt) > 255*254 {
		return nil
	}
	w.page(pkt, pts+int64(opusSamples(pkt)), 0)
	if len(w.buf) >= maxBatchBytes {
		return w.flush()
	}
	return nil
}

// flush writes the pages gathered since the last flush, in one write(2).
func (w *oggWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.f.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *oggWriter) close() error {
	err := w.flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// opusSamples is the number of 48 kHz samples in an Opus packet (RFC 6716 §3.1), at most
// 120 ms.
func opusSamples(p []byte) int {
	toc := p[0]
	cfg := toc >> 3
	var size int // in 1/10 ms... use samples at 48 kHz
	switch {
	case cfg < 12:
		size = []int{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16:
		size = []int{480, 960}[cfg%2]
	default:
		size = []int{120, 240, 480, 960}[cfg%4]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) > 1 {
			frames = int(p[1] & 0x3f)
		}
	}
	// A packet lasts at most 120 ms (RFC 6716 §3.2.5): a frame count past that is invalid and
	// must not move the Ogg granule (nor the chunk's end) forward by seconds.
	return min(size*frames, maxOpusSamples)
}

// maxOpusSamples is 120 ms at 48 kHz, the longest an Opus packet may be.
const maxOpusSamples = 5760
