package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// soakUploads uploads UploadFile every UploadEvery through the direct-upload API (POST
// /api/uploads, PUT each part, POST …/complete) and follows each recording until the server's
// transcode makes it ready (or failed).
type soakUploads struct {
	sp SoakParams
	hc *http.Client
	mu sync.Mutex
	rs []SoakUpload
}

// SoakUpload is one upload of the soak.
type SoakUpload struct {
	Index       int       `json:"index"`
	Started     time.Time `json:"started"`
	Bytes       int64     `json:"bytes"`
	RecordingID string    `json:"recording_id,omitempty"`
	UploadS     float64   `json:"upload_s"`          // POST → complete answered
	Status      string    `json:"status,omitempty"`  // the recording's last status seen
	ReadyS      float64   `json:"ready_s,omitempty"` // complete → ready
	Error       string    `json:"error,omitempty"`
	polledUntil time.Time `json:"-"`
}

func newSoakUploads(sp SoakParams) *soakUploads {
	return &soakUploads{sp: sp, hc: &http.Client{Timeout: 60 * time.Second}}
}

func (u *soakUploads) run(ctx context.Context) {
	if u.sp.UploadEvery <= 0 {
		return
	}
	t := time.NewTicker(u.sp.UploadEvery)
	defer t.Stop()
	for i := 0; ; i++ {
		u.one(ctx, i)
		u.poll(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-time.After(10 * time.Second):
				u.poll(ctx)
				continue
			}
			break
		}
	}
}

func (u *soakUploads) api(ctx context.Context, method, path string, body any, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	return u.do(ctx, method, path, rd, "application/json", out)
}

func (u *soakUploads) do(ctx context.Context, method, path string, body io.Reader, ctype string, out any) (http.Header, error) {
	if !strings.HasPrefix(path, "http") {
		path = u.sp.Base.URL + path
	}
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+u.sp.Base.Token)
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return resp.Header, fmt.Errorf("%s %s: %s %s", method, strings.TrimPrefix(path, u.sp.Base.URL), resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// one uploads the file once.
func (u *soakUploads) one(ctx context.Context, i int) {
	res := SoakUpload{Index: i, Started: time.Now().UTC()}
	defer func() {
		u.mu.Lock()
		u.rs = append(u.rs, res)
		u.mu.Unlock()
	}()
	data, err := os.ReadFile(u.sp.UploadFile)
	if err != nil {
		res.Error = err.Error()
		return
	}
	res.Bytes = int64(len(data))
	var up struct {
		ID       string `json:"id"`
		PartSize int64  `json:"part_size"`
		Parts    []struct {
			Number int    `json:"number"`
			URL    string `json:"url"`
		} `json:"parts"`
		CompleteURL string `json:"complete_url"`
	}
	ctype := "video/mp4"
	if strings.HasSuffix(u.sp.UploadFile, ".webm") {
		ctype = "video/webm"
	}
	t0 := time.Now()
	if _, err := u.api(ctx, http.MethodPost, "/api/uploads", map[string]any{"room": u.sp.Base.Room, "title": fmt.Sprintf("soak upload %d", i),
		"filename": filepath.Base(u.sp.UploadFile), "size": len(data), "content_type": ctype}, &up); err != nil {
		res.Error = err.Error()
		return
	}
	type done struct {
		Number int    `json:"number"`
		ETag   string `json:"etag"`
	}
	var parts []done
	for _, pt := range up.Parts {
		lo := int64(pt.Number-1) * up.PartSize
		hi := min(lo+up.PartSize, int64(len(data)))
		if lo < 0 || lo >= hi {
			res.Error = fmt.Sprintf("part %d out of range", pt.Number)
			return
		}
		h, err := u.do(ctx, http.MethodPut, pt.URL, bytes.NewReader(data[lo:hi]), "application/octet-stream", nil)
		if err != nil {
			res.Error = err.Error()
			return
		}
		parts = append(parts, done{pt.Number, h.Get("ETag")})
	}
	var c struct {
		RecordingID string `json:"recording_id"`
	}
	if _, err := u.api(ctx, http.MethodPost, up.CompleteURL, map[string]any{"parts": parts}, &c); err != nil {
		res.Error = err.Error()
		return
	}
	res.RecordingID, res.UploadS, res.Status = c.RecordingID, round3(time.Since(t0).Seconds()), "processing"
	res.polledUntil = time.Now()
}

// poll asks for the status of every upload not yet ready or failed.
func (u *soakUploads) poll(ctx context.Context) {
	u.mu.Lock()
	var todo []int
	for i, r := range u.rs {
		if r.RecordingID != "" && r.Status != "ready" && r.Status != "failed" {
			todo = append(todo, i)
		}
	}
	u.mu.Unlock()
	for _, i := range todo {
		u.mu.Lock()
		id, since := u.rs[i].RecordingID, u.rs[i].polledUntil
		u.mu.Unlock()
		var rec struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := u.api(pctx, http.MethodGet, "/api/recordings/"+id, nil, &rec)
		cancel()
		if err != nil {
			continue
		}
		u.mu.Lock()
		u.rs[i].Status = rec.Status
		if rec.Status == "ready" {
			u.rs[i].ReadyS = round3(time.Since(since).Seconds())
		}
		if rec.Status == "failed" {
			u.rs[i].Error = rec.Error
		}
		u.mu.Unlock()
	}
}

// awaitReady polls until every upload is ready or failed, or max passed.
func (u *soakUploads) awaitReady(ctx context.Context, maxWait time.Duration) {
	end := time.Now().Add(maxWait)
	for time.Now().Before(end) && ctx.Err() == nil {
		u.poll(ctx)
		if t := u.totals(); t.ready+t.failed >= t.done {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

func (u *soakUploads) results() []SoakUpload {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]SoakUpload(nil), u.rs...)
}

type soakUploadTotals struct{ done, errors, ready, failed int }

func (u *soakUploads) totals() soakUploadTotals {
	u.mu.Lock()
	defer u.mu.Unlock()
	var t soakUploadTotals
	for _, r := range u.rs {
		switch {
		case r.RecordingID == "":
			t.errors++
		default:
			t.done++
			if r.Status == "ready" {
				t.ready++
			}
			if r.Status == "failed" {
				t.failed++
			}
		}
	}
	return t
}
