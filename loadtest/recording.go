package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Recordings of load runs. The harness does not switch the server's recording off (it cannot:
// that is `serve --record`); every publisher it starts sends real, decodable media (the
// synthetic one a VP8 + Opus loop, media.go), so a recording server turns the run into a
// playable VOD like any broadcast. The report says which happened: RecordingNote.

// RecordingNote is what the server recorded of the run.
type RecordingNote struct {
	Recorded bool   `json:"recorded"`
	ID       string `json:"id,omitempty"`
	Status   string `json:"status,omitempty"` // as the server said during the hold
	Note     string `json:"note"`
}

// findRecording asks the server's recordings API for a recording of the room that started
// during this run.
func findRecording(ctx context.Context, hc *http.Client, p Params, since time.Time) *RecordingNote {
	room := p.Room
	if p.Rooms > 1 { // the rooms are ROOM-1 … ROOM-N: ask for the first one's
		room = p.Room + "-1"
	}
	u := fmt.Sprintf("%s/api/recordings?limit=5&room=%s", p.URL, url.QueryEscape(room))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &RecordingNote{Note: "could not ask the server whether it records this run: " + err.Error()}
	}
	if p.ViewerToken != "" {
		req.Header.Set("Authorization", "Bearer "+p.ViewerToken)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &RecordingNote{Note: "could not ask the server whether it records this run: " + err.Error()}
	}
	defer resp.Body.Close()
	var page struct {
		Recordings []struct {
			ID        string    `json:"id"`
			Room      string    `json:"room"`
			Status    string    `json:"status"`
			Source    string    `json:"source"`
			StartedAt time.Time `json:"started_at"`
		} `json:"recordings"`
	}
	if resp.StatusCode == http.StatusNotFound {
		return &RecordingNote{Note: "the server does not record (it has no recordings API: serve --record=false)"}
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&page) != nil {
		return &RecordingNote{Note: fmt.Sprintf("could not tell whether the server records this run (GET /api/recordings: %s)", resp.Status)}
	}
	for _, rec := range page.Recordings {
		// A few seconds of slack for a server whose clock is a little off.
		if (rec.Room != p.Room && (p.Rooms <= 1 || !strings.HasPrefix(rec.Room, p.Room+"-"))) || (rec.Source != "" && rec.Source != "live") || rec.StartedAt.Before(since.Add(-5*time.Second)) {
			continue
		}
		n := &RecordingNote{Recorded: true, ID: rec.ID, Status: rec.Status}
		n.Note = fmt.Sprintf("the server recorded this run as %s (status %s when the hold ended)", rec.ID, rec.Status)
		switch p.Publisher {
		case PublisherSynthetic:
			n.Note += "; the synthetic publisher sends real VP8 + Opus (a loop encoded at start), so it becomes a playable VOD"
		case PublisherFile, PublisherBrowser:
			n.Note += "; the publisher sends real media, so it becomes a playable VOD"
		}
		n.Note += ". To measure fan-out alone and keep no recording, start the server with --record=false."
		return n
	}
	return &RecordingNote{Note: "the server did not record this run (recording is off: serve --record=false)"}
}
