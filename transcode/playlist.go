package transcode

import (
	"context"
	"fmt"
	"math"
	"strings"
)

// loadChunks reads the done markers of chunks 0.. up to n (n < 0: as many as are contiguous),
// skipping the holes (indices that may never come) whose chunk is not done: the next chunk is
// marked gapBefore. It reports whether every chunk up to n that is not a hole is done.
func (h *Handler) loadChunks(ctx context.Context, id string, n int, holes []int) ([]chunkDone, bool, error) {
	hole := map[int]bool{}
	for _, i := range holes {
		hole[i] = true
	}
	var out []chunkDone
	gap := false
	for i := 0; n < 0 || i < n; i++ {
		var c chunkDone
		ok, err := h.getJSON(ctx, ChunkDoneKey(id, i), &c)
		if err != nil {
			return nil, false, err
		}
		if !ok && hole[i] {
			gap = true
			continue
		}
		if !ok {
			return out, n < 0, nil
		}
		c.gapBefore, gap = gap, false
		c.afterHole = hole[i-1]
		out = append(out, c)
	}
	return out, true, nil
}

// holes reads the recording's holes.json (none when there is none).
func (h *Handler) holes(ctx context.Context, id string) ([]int, error) {
	var hs Holes
	if _, err := h.getJSON(ctx, HolesKey(id), &hs); err != nil {
		return nil, err
	}
	return hs.Holes, nil
}

// seamTolerance is how far a chunk after a hole may start from the previous chunk's end before
// the playlist marks a discontinuity there (a takeover's timeline jumps past the media the dead
// node may have had: archive/continue_inflight.go).
const seamTolerance = 0.15

// mediaPlaylist stitches the segments of chunks for one rung. Timestamps are continuous across
// chunks (each chunk is encoded with -output_ts_offset = its start), so no discontinuity tags,
// except after a chunk of which nothing decoded (it has no segments: the timeline jumps), after
// a hole skipped, and where the timeline jumps after a hole (filled or not).
func mediaPlaylist(chunks []chunkDone, rung string, final bool) string {
	target := 1.0
	for _, c := range chunks {
		for _, s := range c.Segments[rung] {
			target = math.Max(target, s.Duration)
		}
	}
	var b strings.Builder
	typ := "EVENT"
	if final {
		typ = "VOD"
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:%s\n#EXT-X-INDEPENDENT-SEGMENTS\n", int(math.Ceil(target)), typ)
	started, gap, prevEnd := false, false, 0.0
	for _, c := range chunks {
		gap = gap || (c.gapBefore && started) // a hole (chunks lost with a node) before it
		if len(c.Segments[rung]) == 0 {
			gap = started
			continue
		}
		if c.afterHole && started && math.Abs(c.Start-prevEnd) > seamTolerance {
			gap = true // a takeover's seam: the timeline jumps
		}
		if gap {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
			gap = false
		}
		started, prevEnd = true, c.Start+c.Duration
		for _, s := range c.Segments[rung] {
			fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.Duration, s.URI)
		}
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

// realVideo reports whether a chunk holds decoded video (not black frames in its place).
func (c chunkDone) realVideo() bool {
	if c.Empty || len(c.Ladder) == 0 || c.Ladder[0].Height == 0 {
		return false
	}
	for _, t := range c.Tracks {
		if t.Kind == "video" && t.Dropped {
			return false
		}
	}
	return true
}

// pickLadder is the renditions of a recording: the video ladder when any chunk has decoded
// video (chunks whose video did not decode have black frames in it), else the audio-only
// rendition (every chunk has one then). No ladder: nothing of the recording decoded.
func pickLadder(chunks []chunkDone) (ladder []Rung, audio bool) {
	for _, c := range chunks {
		if c.Empty {
			continue
		}
		audio = audio || c.Audio
		if ladder == nil && c.realVideo() {
			ladder = c.Ladder
		}
	}
	if ladder == nil {
		for _, c := range chunks {
			if !c.Empty {
				return []Rung{{Name: "audio"}}, audio
			}
		}
	}
	return ladder, audio
}

// summarize is what a recording holds of each recorded track over all its chunks: a track that
// decoded in no chunk is dropped; one lost in some chunks says in how many.
func summarize(chunks []chunkDone) []TrackState {
	var out []TrackState
	for _, kind := range []string{"video", "audio"} {
		var ts TrackState
		present, dropped := 0, 0
		for _, c := range chunks {
			tracks := c.Tracks
			if len(tracks) == 0 && !c.Empty { // a marker written before tracks were recorded
				if c.realVideo() {
					tracks = append(tracks, TrackState{Kind: "video", Codec: "vp8"})
				}
				if c.Audio {
					tracks = append(tracks, TrackState{Kind: "audio", Codec: "opus"})
				}
			}
			for _, t := range tracks {
				if t.Kind != kind {
					continue
				}
				present++
				if ts.Codec == "" {
					ts.Codec = t.Codec
				}
				if t.Dropped {
					dropped++
					if ts.Reason == "" {
						ts.Reason = t.Reason
					}
				}
			}
		}
		if present == 0 {
			continue
		}
		ts.Kind = kind
		switch {
		case dropped == present:
			ts.Dropped = true
		case dropped > 0:
			fill := "black"
			if kind == "audio" {
				fill = "silent"
			}
			ts.Reason = fmt.Sprintf("%s in %d of %d parts (%s there)", ts.Reason, dropped, present, fill)
		default:
			ts.Reason = ""
		}
		out = append(out, ts)
	}
	return out
}

// droppedNote is the recording's one-sentence note on what was dropped ("" when nothing was).
func droppedNote(tracks []TrackState) string {
	for _, t := range tracks {
		if t.Kind == "video" && t.Dropped {
			return MsgVideoDropped
		}
	}
	for _, t := range tracks {
		if t.Kind == "audio" && t.Dropped {
			return MsgAudioDropped
		}
	}
	return ""
}

// chunkLogs joins the decoders' complaints of every chunk, cleaned, for the operator log.
func chunkLogs(chunks []chunkDone) string {
	var b strings.Builder
	for _, c := range chunks {
		if c.Log != "" {
			fmt.Fprintf(&b, "%s\n", c.Log)
		}
	}
	return CleanLog(b.String())
}

func masterPlaylist(ladder []Rung, audio bool, media string) string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, r := range ladder {
		if r.Height == 0 { // audio only
			fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"mp4a.40.2\"\n%s/%s\n", AudioKbps*1100, r.Name, media)
			continue
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,RESOLUTION=%dx%d,CODECS=\"%s\"\n%s/%s\n",
			r.Bandwidth(audio), r.VideoKbps*1000+AudioKbps*1000, r.Width, r.Height, r.Codecs(audio), r.Name, media)
	}
	return b.String()
}

func (h *Handler) writePlaylists(ctx context.Context, id string, chunks []chunkDone, final bool) error {
	media, master := "live.m3u8", LiveKey(id)
	if final {
		media, master = "index.m3u8", MasterKey(id)
	}
	ladder, audio := pickLadder(chunks)
	if ladder == nil {
		return nil // nothing decoded so far: nothing to play
	}
	for _, r := range ladder {
		if err := h.put(ctx, "rec/"+id+"/"+r.Name+"/"+media, []byte(mediaPlaylist(chunks, r.Name, final))); err != nil {
			return err
		}
	}
	return h.put(ctx, master, []byte(masterPlaylist(ladder, audio, media)))
}

// writeLive publishes the EVENT playlists of the contiguous chunks done so far.
func (h *Handler) writeLive(ctx context.Context, id string) (int, error) {
	holes, err := h.holes(ctx, id)
	if err != nil {
		return 0, err
	}
	chunks, _, err := h.loadChunks(ctx, id, -1, holes)
	if err != nil || len(chunks) == 0 {
		return 0, err
	}
	return len(chunks), h.writePlaylists(ctx, id, chunks, false)
}

// TryFinalize writes the final playlists when the recording ended and every chunk is done, and
// reports whether it did. Both the last chunk's task and the finalize task call it, so whichever
// runs last finishes the recording; running it twice writes the same files.
func (h *Handler) TryFinalize(ctx context.Context, id string) (bool, error) {
	var end End
	ok, err := h.getJSON(ctx, EndKey(id), &end)
	if err != nil || !ok {
		return false, err
	}
	holes, err := h.holes(ctx, id)
	if err != nil {
		return false, err
	}
	chunks, all, err := h.loadChunks(ctx, id, end.Chunks, append(holes, end.Holes...))
	if err != nil || !all {
		return false, err
	}
	ladder, _ := pickLadder(chunks)
	var dur float64
	if ladder != nil {
		for _, c := range chunks {
			for _, sg := range c.Segments[ladder[0].Name] {
				dur += sg.Duration
			}
		}
	}
	tracks := summarize(chunks)
	if len(chunks) == 0 || dur < minPlayable {
		// Never "ready" without something to watch: zero-length output is a failure.
		log := chunkLogs(chunks)
		if log == "" {
			log = "the recording has no media"
		}
		h.log.Warn("recording has nothing playable", "recording", id, "chunks", len(chunks), "log", log)
		h.p.Notify(ctx, Update{RecordingID: id, Kind: UpdateFailed, Error: MsgNothingDecodes, Log: log, Tracks: tracks})
		return true, nil
	}
	if err := h.writePlaylists(ctx, id, chunks, true); err != nil {
		return false, err
	}
	var names []string
	for _, r := range ladder {
		names = append(names, r.Name)
	}
	if !h.p.KeepRaw {
		if err := h.p.Store.DeletePrefix(ctx, "raw/"+id+"/"); err != nil {
			h.log.Warn("cannot delete raw chunks", "recording", id, "err", err)
		}
	}
	poster := ""
	if ok, _ := h.exists(ctx, PosterKey(id)); ok {
		poster = h.p.Store.URL(PosterKey(id))
	}
	h.log.Info("recording ready", "recording", id, "duration", math.Round(dur*100)/100, "chunks", len(chunks))
	h.p.Notify(ctx, Update{RecordingID: id, Kind: UpdateReady, Chunk: len(chunks), Progress: 100, Duration: dur,
		Renditions: names, HLSURL: h.p.Store.URL(MasterKey(id)), PosterURL: poster,
		Tracks: tracks, Error: droppedNote(tracks), Log: chunkLogs(chunks)})
	return true, nil
}
