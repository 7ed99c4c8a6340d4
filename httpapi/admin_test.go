package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/httpapi"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/transcode"
)

func request(t *testing.T, method, url, token string, cookie *http.Cookie, accept string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, b := testserver.Send(t, req, token)
	return res, string(b)
}

// TestAdminSessionAndQueues: the admin cookie is set only for an admin token, HttpOnly and
// SameSite=Strict; asynqmon answers behind it (or a Bearer admin token) against the embedded
// Redis, and refuses without.
func TestAdminSessionAndQueues(t *testing.T) {
	s := startArchive(t, func(c *config.Config) { c.Workers = 1 })
	admin := s.Token(t, auth.AnyRoom, auth.GrantAdmin)
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", 401},
		{"bad token", "nope", 401},
		{"publisher", s.Token(t, "shop", auth.GrantPublish), 403},
		{"admin of one room", s.Token(t, "shop", auth.GrantAdmin), 403},
	} {
		if res, body := request(t, http.MethodPost, s.Base+"/api/session", c.token, nil, ""); res.StatusCode != c.want || !strings.Contains(body, `"error"`) {
			t.Errorf("session as %s: %d %s, want %d", c.name, res.StatusCode, body, c.want)
		}
	}
	res, _ := request(t, http.MethodPost, s.Base+"/api/session", admin, nil, "")
	if res.StatusCode != 204 {
		t.Fatalf("session as admin: %d", res.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == httpapi.AdminCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value != admin || cookie.MaxAge <= 0 {
		t.Fatalf("cookie %+v", cookie)
	}

	// asynqmon: refused without credentials (HTML for browsers, JSON otherwise).
	if res, body := request(t, http.MethodGet, s.Base+httpapi.QueuesPath+"/", "", nil, "text/html"); res.StatusCode != 401 || !strings.Contains(body, `href="/admin"`) {
		t.Errorf("queues without cookie: %d %s", res.StatusCode, body)
	}
	if res, _ := request(t, http.MethodGet, s.Base+httpapi.QueuesPath+"/api/queues", "", nil, ""); res.StatusCode != 401 {
		t.Errorf("queues api without cookie: %d", res.StatusCode)
	}
	bad := &http.Cookie{Name: httpapi.AdminCookie, Value: s.Token(t, "shop", auth.GrantPublish)}
	if res, _ := request(t, http.MethodGet, s.Base+httpapi.QueuesPath+"/api/queues", "", bad, ""); res.StatusCode != 403 {
		t.Errorf("queues api with a publisher cookie: %d", res.StatusCode)
	}
	// With the cookie: the UI and its API, on miniredis.
	if res, body := request(t, http.MethodGet, s.Base+httpapi.QueuesPath+"/", "", cookie, "text/html"); res.StatusCode != 200 || !strings.Contains(body, "<html") {
		t.Errorf("queues UI: %d %.200s", res.StatusCode, body)
	}
	// A task so the queue exists.
	if err := s.Archive().Queue().EnqueueFinalize(context.Background(), "nope", 1); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/queues", "/api/servers", "/api/queue_stats", "/api/queues/finalize/pending_tasks"} {
		res, body := request(t, http.MethodGet, s.Base+httpapi.QueuesPath+path, "", cookie, "")
		if res.StatusCode != 200 {
			t.Errorf("asynqmon %s: %d %s", path, res.StatusCode, body)
		}
	}
	if res, body := request(t, http.MethodGet, s.Base+httpapi.QueuesPath+"/api/queues", admin, nil, ""); res.StatusCode != 200 || !strings.Contains(body, "finalize") {
		t.Errorf("asynqmon with Bearer: %d %s", res.StatusCode, body)
	}
	// Redis info: miniredis answers INFO with few sections; record what asynqmon gets.
	if res, body := request(t, http.MethodGet, s.Base+httpapi.QueuesPath+"/api/redis_info", "", cookie, ""); res.StatusCode != 200 {
		t.Logf("asynqmon redis_info on miniredis: %d %.200s", res.StatusCode, body)
	}

	res, _ = request(t, http.MethodDelete, s.Base+"/api/session", "", cookie, "")
	if res.StatusCode != 204 || len(res.Cookies()) != 1 || res.Cookies()[0].MaxAge >= 0 {
		t.Errorf("end session: %d %+v", res.StatusCode, res.Cookies())
	}
}

// TestAdminEndRoom: DELETE /api/rooms/{room} ends a live broadcast for an admin or the room's
// publisher, and says 404 when the room is not live.
func TestAdminEndRoom(t *testing.T) {
	needTools(t)
	s := startArchive(t, func(c *config.Config) { c.Record = false })
	pub, _ := s.PublishFile(t, "shop", 30*time.Second)
	// The room is live once the publisher's tracks arrive, a moment after the WHIP answer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, ok := s.SFU().Room("shop"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("room shop did not go live")
		}
	}
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", 401},
		{"viewer", s.Token(t, "shop", auth.GrantSubscribe), 403},
		{"other room's publisher", s.Token(t, "other", auth.GrantPublish), 403},
		{"admin, room not live", s.Token(t, auth.AnyRoom, auth.GrantAdmin), 404},
	} {
		room := "shop"
		if c.want == 404 {
			room = "other"
		}
		if code := do(t, http.MethodDelete, s.Base+"/api/rooms/"+room, c.token, ""); code != c.want {
			t.Errorf("end as %s: %d, want %d", c.name, code, c.want)
		}
	}
	if code := do(t, http.MethodDelete, s.Base+"/api/rooms/has.dot", s.Token(t, auth.AnyRoom, auth.GrantAdmin), ""); code != 400 {
		t.Errorf("end a malformed room: %d", code)
	}
	if _, ok := s.SFU().Room("shop"); !ok {
		t.Fatal("room shop not live")
	}
	if code := do(t, http.MethodDelete, s.Base+"/api/rooms/shop", s.Token(t, "shop", auth.GrantPublish), ""); code != 204 {
		t.Fatalf("end as publisher: %d", code)
	}
	if _, ok := s.SFU().Room("shop"); ok {
		t.Error("room still live after DELETE")
	}
	// The publisher's connection goes down.
	deadline := time.Now().Add(15 * time.Second)
	for pub.PC().ConnectionState().String() == "connected" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st := pub.PC().ConnectionState().String(); st == "connected" {
		t.Errorf("publisher still %s", st)
	}
	if code := do(t, http.MethodDelete, s.Base+"/api/rooms/shop", s.Token(t, auth.AnyRoom, auth.GrantAdmin), ""); code != 404 {
		t.Errorf("end again: %d", code)
	}
}

// TestAdminRetryFailedRecording: a recording whose first raw chunk is gone from storage fails for
// real in the worker; the job shows in /api/admin/jobs with its error;
// "run again" runs the same job and fails again; retry re-uploads the intact chunk from
// the recorder's disk and the recording becomes ready.
func TestAdminRetryFailedRecording(t *testing.T) {
	needTools(t)
	if testing.Short() {
		t.Skip("transcodes (skipped with -short)")
	}
	rurl := testRedisURL(t, 11)
	// No workers in the server: the jobs wait in Redis until the test starts one.
	s := startArchive(t, func(c *config.Config) { c.RedisURL, c.Workers = rurl, 0 })
	admin := s.Token(t, auth.AnyRoom, auth.GrantAdmin)
	events := sse(t, s.Base)
	_, stop := s.PublishFile(t, "shop", 6*time.Second)
	rec := waitStatus(t, events, "", catalog.StatusRecording, 10*time.Second)
	if code := do(t, http.MethodPost, s.Base+"/api/recordings/"+rec.ID+"/retry", admin, ""); code != 409 {
		t.Errorf("retry while recording: %d, want 409", code)
	}
	time.Sleep(time.Until(rec.StartedAt.Add(6 * time.Second)))
	stop()
	waitStatus(t, events, rec.ID, catalog.StatusProcessing, 10*time.Second)
	ins := asynq.NewInspector(s.Archive().RedisOpt())
	defer ins.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if qi, err := ins.GetQueueInfo(transcode.QueueFinalize); err == nil && qi.Pending == 1 {
			break // the finalize job is enqueued after every chunk
		}
		if time.Now().After(deadline) {
			t.Fatal("jobs not enqueued")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A corrupt chunk no longer fails a recording (what decodes is kept): a chunk whose raw
	// files are gone from storage does.
	raw := filepath.Join(s.Config.VODDir(), transcode.RawKey(rec.ID, 0, "video.ivf"))
	if err := os.Remove(raw); err != nil {
		t.Fatal(err)
	}
	s.RunWorker(t)

	failed := waitStatus(t, events, rec.ID, catalog.StatusFailed, 60*time.Second)
	t.Logf("failed: %s", failed.Error)
	if failed.Error != transcode.MsgSourceMissing || failed.Log != "" || !failed.Retryable {
		t.Errorf("public recording: error %q, log %q, retryable %v", failed.Error, failed.Log, failed.Retryable)
	}

	var jobs struct {
		Jobs []archive.Job `json:"jobs"`
	}
	if code := getJSON(t, s.Base+"/api/admin/jobs", s.Token(t, "shop", auth.GrantPublish), nil); code != 403 {
		t.Errorf("jobs as publisher: %d", code)
	}
	if code := getJSON(t, s.Base+"/api/admin/jobs?state=bogus", admin, nil); code != 400 {
		t.Errorf("jobs with a bad state: %d", code)
	}
	// The worker marks the recording failed, then asynq archives the job: it is listed a moment later.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code := getJSON(t, s.Base+"/api/admin/jobs", admin, &jobs)
		if code == 200 && len(jobs.Jobs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs: %d %+v", code, jobs)
		}
	}
	j := jobs.Jobs[0]
	if j.RecordingID != rec.ID || j.State != "archived" || j.Queue != transcode.QueueChunks || j.Type != transcode.TypeChunk ||
		!strings.Contains(j.Error, "source missing") || strings.Contains(j.Error, "skip retry") || j.LastFailedAt == nil {
		t.Errorf("job %+v", j)
	}
	if code := do(t, http.MethodPost, s.Base+"/api/admin/jobs/chunks/nope/run", admin, ""); code != 404 {
		t.Errorf("run unknown job: %d", code)
	}
	// Run the same job again: same corrupt input, fails again.
	if code := do(t, http.MethodPost, s.Base+"/api/admin/jobs/"+j.Queue+"/"+j.ID+"/run", admin, ""); code != 204 {
		t.Fatalf("run job: %d", code)
	}
	waitStatus(t, events, rec.ID, catalog.StatusProcessing, 10*time.Second)
	waitStatus(t, events, rec.ID, catalog.StatusFailed, 60*time.Second)

	if code := do(t, http.MethodPost, s.Base+"/api/recordings/"+rec.ID+"/retry", s.Token(t, "shop", auth.GrantPublish), ""); code != 403 {
		t.Errorf("retry as publisher: %d", code)
	}
	if code := do(t, http.MethodPost, s.Base+"/api/recordings/nope/retry", admin, ""); code != 404 {
		t.Errorf("retry unknown: %d", code)
	}
	var got catalog.Recording
	res, body := request(t, http.MethodPost, s.Base+"/api/recordings/"+rec.ID+"/retry", admin, nil, "")
	if res.StatusCode != 202 || json.Unmarshal([]byte(body), &got) != nil || got.Status != catalog.StatusProcessing || got.Error != "" {
		t.Fatalf("retry: %d %s", res.StatusCode, body)
	}
	r := waitStatus(t, events, rec.ID, catalog.StatusReady, 90*time.Second)
	s.CheckArchive(t, r, r.Duration)
	if code := do(t, http.MethodPost, s.Base+"/api/recordings/"+rec.ID+"/retry", admin, ""); code != 409 {
		t.Errorf("retry when ready: %d", code)
	}
	if code := getJSON(t, s.Base+"/api/admin/jobs", admin, &jobs); code != 200 || len(jobs.Jobs) != 0 {
		t.Errorf("dead jobs left after a successful retry: %+v", jobs)
	}
}
