package recorder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Files of a recording directory <Dir>/<id>/:
//
//	recording.json           Manifest, rewritten (atomically) at start, on every chunk and at the end
//	c000000/chunk.json       ChunkInfo, written when the chunk opens and again when it closes
//	c000000/video.ivf        VP8, VP9, AV1 or H.264 (Annex-B access units) in IVF, 90 kHz
//	                         timestamps from the chunk's first frame (a keyframe); codec in chunk.json
//	c000000/audio.ogg        Opus, granules from the RTP timestamps
//	archived                 marker: the archive has it all (raw files may be deleted)
const (
	manifestFile = "recording.json"
	chunkFile    = "chunk.json"
	archivedFile = "archived"
	videoFile    = "video.ivf"
	audioFile    = "audio.ogg"
)

// Manifest describes one recording.
type Manifest struct {
	ID        string     `json:"id"`
	Room      string     `json:"room"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Chunks    int        `json:"chunks"` // chunks opened so far (final count once ended)
	Width     int        `json:"width"`  // size of the first video keyframe
	Height    int        `json:"height"`
	// End is the timeline end of the last chunk, seconds (set when the recording ends).
	End float64 `json:"end,omitempty"`
	// Resumed counts the publisher's reconnects that continued this recording.
	Resumed int `json:"resumed,omitempty"`
	// Interrupted is set by Scan for a recording whose server died before it ended.
	Interrupted bool `json:"interrupted,omitempty"`
}

// TrackFile is one media file of a chunk.
type TrackFile struct {
	Path   string  `json:"path"`   // absolute path
	Codec  string  `json:"codec"`  // MIME type
	Offset float64 `json:"offset"` // seconds from the chunk start to the first sample
}

// ChunkInfo describes one chunk.
type ChunkInfo struct {
	RecordingID string     `json:"recording_id"`
	Index       int        `json:"index"`
	Start       float64    `json:"start"`    // seconds on the recording timeline
	Duration    float64    `json:"duration"` // 0 while open (or cut by a crash)
	Closed      bool       `json:"closed"`
	Video       *TrackFile `json:"video,omitempty"`
	Audio       *TrackFile `json:"audio,omitempty"`
	Width       int        `json:"width"` // the recording's source size
	Height      int        `json:"height"`
}

func chunkDir(recDir string, i int) string { return filepath.Join(recDir, fmt.Sprintf("c%06d", i)) }

// writeJSON replaces path atomically (temp file + rename).
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Pending is a recording on disk that the archive does not have in full yet.
type Pending struct {
	Manifest Manifest
	Dir      string
	Chunks   []ChunkInfo
}

// Scan lists the recordings under dir that are not marked archived, oldest first, skipping the
// ids in live (recordings still being written by this process). A recording that has no end
// (its server was killed) is closed on disk here: its end is set to the last chunk file's
// modification time and Interrupted is set; its last chunk has Duration 0 (length unknown).
func Scan(dir string, live map[string]bool) ([]Pending, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Pending
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || live[e.Name()] || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rd := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(rd, archivedFile)); err == nil {
			continue
		}
		var m Manifest
		if err := readJSON(filepath.Join(rd, manifestFile), &m); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrBadManifest, rd, err))
			continue
		}
		p := Pending{Manifest: m, Dir: rd}
		last := m.StartedAt
		// Every chunk directory, in index order: a recording continued from another node has
		// only the chunks this node wrote, which need not start at 0 (archive/continue.go).
		next := 0
		for _, cd := range chunkDirs(rd) {
			var c ChunkInfo
			if err := readJSON(filepath.Join(cd, chunkFile), &c); err != nil {
				continue
			}
			// Paths are rebuilt: the data directory may have moved.
			for _, tf := range []*TrackFile{c.Video, c.Audio} {
				if tf != nil {
					tf.Path = filepath.Join(cd, filepath.Base(tf.Path))
					if st, err := os.Stat(tf.Path); err == nil && st.ModTime().After(last) {
						last = st.ModTime()
					}
				}
			}
			if c.Video == nil && c.Audio == nil {
				continue // opened, nothing written: not a chunk
			}
			p.Chunks = append(p.Chunks, c)
			next = c.Index + 1
		}
		if m.EndedAt == nil {
			p.Manifest.EndedAt = &last
			p.Manifest.Interrupted = true
			p.Manifest.Chunks = next
			if err := writeJSON(filepath.Join(rd, manifestFile), p.Manifest); err != nil {
				errs = append(errs, fmt.Errorf("%w: %v", ErrDisk, err))
			}
		} else if next < m.Chunks {
			p.Manifest.Chunks = next
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Manifest.StartedAt.Before(out[j].Manifest.StartedAt) })
	return out, errors.Join(errs...)
}

// chunkDirs lists the chunk directories of a recording directory (c000000, c000001, …) in index
// order.
func chunkDirs(rd string) []string {
	ents, _ := os.ReadDir(rd)
	var out []string
	for _, e := range ents {
		var i int
		if n, err := fmt.Sscanf(e.Name(), "c%06d", &i); e.IsDir() && err == nil && n == 1 && e.Name() == fmt.Sprintf("c%06d", i) {
			out = append(out, filepath.Join(rd, e.Name()))
		}
	}
	sort.Strings(out) // fixed-width names: lexical order is index order
	return out
}

// MarkArchived records that the archive holds recording id in full.
func MarkArchived(dir, id string) error {
	return os.WriteFile(filepath.Join(dir, id, archivedFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

// RemoveRaw deletes the media files of archived recordings whose end is older than retention,
// keeping the manifests (so the reconciler knows they are done). It returns how many it removed.
func RemoveRaw(dir string, retention time.Duration, now time.Time) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	n := 0
	for _, e := range ents {
		rd := filepath.Join(dir, e.Name())
		st, err := os.Stat(filepath.Join(rd, archivedFile))
		if err != nil || now.Sub(st.ModTime()) < retention {
			continue
		}
		cs, _ := filepath.Glob(filepath.Join(rd, "c[0-9]*"))
		for _, c := range cs {
			if err := os.RemoveAll(c); err != nil {
				return n, err
			}
		}
		if len(cs) > 0 {
			n++
		}
	}
	return n, nil
}

// ClosedChunks lists the closed chunks of recording id under dir (written in full: their
// Duration is known), in index order, without touching the recording's manifest — the finished
// chunks of a recording still being written.
func ClosedChunks(dir, id string) []ChunkInfo {
	rd := filepath.Join(dir, filepath.Base(id))
	var out []ChunkInfo
	for _, cd := range chunkDirs(rd) {
		var c ChunkInfo
		if err := readJSON(filepath.Join(cd, chunkFile), &c); err != nil || c.Duration <= 0 || (c.Video == nil && c.Audio == nil) {
			continue
		}
		for _, tf := range []*TrackFile{c.Video, c.Audio} {
			if tf != nil {
				tf.Path = filepath.Join(cd, filepath.Base(tf.Path))
			}
		}
		out = append(out, c)
	}
	return out
}
