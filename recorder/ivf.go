package recorder

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
)

// ivfWriter writes video frames (VP8, VP9, AV1 or H.264, named by the fourcc) to an IVF file
// with a 1/90000 time base, so frame timestamps are the RTP timestamps relative to the chunk's
// first frame. Frames are gathered in memory and written whole by flush, several in one write(2)
// (the sink flushes every writeBatch, sink.go): a process killed at any moment leaves a file
// ffmpeg reads up to the last whole frame written. chunk.json names the file only once frames
// are in it (Sink.flushChunk).
type ivfWriter struct {
	f      *os.File
	frames uint32
	buf    []byte // frames not written yet
}

// createFresh creates path as a new file: one left at that path is removed first, never
// truncated in place, because a closed chunk's file may also be an object of the local store
// (a hard link: storage.Local.PutFile).
func createFresh(path string) (*os.File, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
}

func newIVF(path, fourcc string, width, height int) (*ivfWriter, error) {
	f, err := createFresh(path)
	if err != nil {
		return nil, err
	}
	h := make([]byte, 32)
	copy(h[0:], "DKIF")
	binary.LittleEndian.PutUint16(h[4:], 0)
	binary.LittleEndian.PutUint16(h[6:], 32)
	copy(h[8:], fourcc)
	binary.LittleEndian.PutUint16(h[12:], uint16(width))
	binary.LittleEndian.PutUint16(h[14:], uint16(height))
	binary.LittleEndian.PutUint32(h[16:], 90000) // time base denominator
	binary.LittleEndian.PutUint32(h[20:], 1)     // numerator
	if _, err := f.Write(h); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &ivfWriter{f: f}, nil
}

// write adds a frame; it reaches the file at the next flush.
func (w *ivfWriter) write(frame []byte, pts int64) error {
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(frame)))
	w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(pts))
	w.buf = append(w.buf, frame...)
	w.frames++
	if len(w.buf) >= maxBatchBytes {
		return w.flush()
	}
	return nil
}

// flush writes the frames gathered since the last flush, in one write(2).
func (w *ivfWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.f.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *ivfWriter) close() error {
	err := w.flush()
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], w.frames)
	if _, werr := w.f.WriteAt(n[:], 24); err == nil {
		err = werr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// vp8Key reports whether a VP8 frame is a keyframe and, if so, its size.
func vp8Key(f []byte) (key bool, w, h int) {
	if len(f) < 10 || f[0]&1 != 0 {
		return false, 0, 0
	}
	if f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return true, 0, 0
	}
	return true, int(binary.LittleEndian.Uint16(f[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(f[8:]) & 0x3fff)
}
