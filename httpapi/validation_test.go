package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/internal/testserver"
)

// TestJSONEndpointsValidation (defect 11): every JSON endpoint checks the token before it reads
// the body, caps the body with 413, answers a wrong Content-Type with 415; URL imports need
// the global admin; unknown recording and upload ids are not revealed before authentication.
func TestJSONEndpointsValidation(t *testing.T) {
	s := startArchive(t, nil)
	ctx := context.Background()
	if err := s.Archive().Catalog().Put(ctx, catalog.Recording{ID: "r1", Room: "shop", Title: "One",
		StartedAt: time.Now(), Status: catalog.StatusReady}); err != nil {
		t.Fatal(err)
	}
	pub := s.Token(t, "shop", auth.GrantPublish)
	other := s.Token(t, "elsewhere", auth.GrantPublish)
	roomAdmin := s.Token(t, "shop", auth.GrantAdmin)
	admin := s.Token(t, auth.AnyRoom, auth.GrantAdmin)

	// A pending upload to complete.
	var up struct {
		ID string `json:"id"`
	}
	code, msg := send(t, http.MethodPost, s.Base+"/api/uploads", pub, "application/json",
		`{"room":"shop","filename":"a.mp4","size":1000}`, &up)
	if code != http.StatusCreated {
		t.Fatalf("create upload: %d %s", code, msg)
	}
	huge := `{"title":"` + strings.Repeat("a", 10<<20) + `"}`
	const uploadBody = `{"room":"shop","filename":"b.mp4","size":1000}`
	const importBody = `{"url":"http://127.0.0.1:1/a.mp4","room":"shop"}`
	complete := "/api/uploads/" + up.ID + "/complete"
	const patchBody = `{"title":"New"}`
	for _, tc := range []struct {
		name, method, path, token, ctype, body string
		want                                   int
	}{
		// POST /api/uploads
		{"upload: no token, not JSON", "POST", "/api/uploads", "", "application/json", "nope", 401},
		{"upload: bad token, huge body", "POST", "/api/uploads", "x.y.z", "application/json", huge, 401},
		{"upload: 10 MB body", "POST", "/api/uploads", pub, "application/json", huge, 413},
		{"upload: text/plain", "POST", "/api/uploads", pub, "text/plain", uploadBody, 415},
		{"upload: form", "POST", "/api/uploads", pub, "application/x-www-form-urlencoded", uploadBody, 415},
		{"upload: other room", "POST", "/api/uploads", other, "application/json", uploadBody, 403},
		{"upload: not JSON", "POST", "/api/uploads", pub, "application/json", "nope", 400},
		{"upload: ok with charset", "POST", "/api/uploads", pub, "application/json; charset=utf-8", uploadBody, 201},
		// POST /api/imports: the global admin only
		{"import: no token, not JSON", "POST", "/api/imports", "", "application/json", "nope", 401},
		{"import: publisher", "POST", "/api/imports", pub, "application/json", importBody, 403},
		{"import: admin of one room", "POST", "/api/imports", roomAdmin, "application/json", importBody, 403},
		{"import: admin of one room, its default room", "POST", "/api/imports", roomAdmin, "application/json", `{"url":"http://127.0.0.1:1/a.mp4"}`, 403},
		{"import: 10 MB body", "POST", "/api/imports", admin, "application/json", huge, 413},
		{"import: text/plain", "POST", "/api/imports", admin, "text/plain", importBody, 415},
		{"import: not JSON", "POST", "/api/imports", admin, "application/json", "nope", 400},
		// POST /api/uploads/{id}/complete
		{"complete: unknown id, no token", "POST", "/api/uploads/nope/complete", "", "application/json", `{"parts":[]}`, 401},
		{"complete: unknown id", "POST", "/api/uploads/nope/complete", pub, "application/json", `{"parts":[]}`, 404},
		{"complete: no token", "POST", complete, "", "application/json", `{"parts":[]}`, 401},
		{"complete: other room", "POST", complete, other, "application/json", `{"parts":[]}`, 403},
		{"complete: 10 MB body", "POST", complete, pub, "application/json", `{"parts":[` + strings.Repeat(`{"number":1},`, 1<<20) + `]}`, 413},
		{"complete: text/plain", "POST", complete, pub, "text/plain", `{"parts":[]}`, 415},
		{"resume: unknown id, no token", "GET", "/api/uploads/nope", "", "", "", 401},
		// PATCH /api/recordings/{id}
		{"patch: unknown id, no token", "PATCH", "/api/recordings/nope", "", "application/json", patchBody, 401},
		{"patch: unknown id, bad token", "PATCH", "/api/recordings/nope", "x.y.z", "application/json", patchBody, 401},
		{"patch: unknown id", "PATCH", "/api/recordings/nope", pub, "application/json", patchBody, 404},
		{"patch: no token, huge body", "PATCH", "/api/recordings/r1", "", "application/json", huge, 401},
		{"patch: other room", "PATCH", "/api/recordings/r1", other, "application/json", patchBody, 403},
		{"patch: 10 MB body", "PATCH", "/api/recordings/r1", pub, "application/json", huge, 413},
		{"patch: text/plain", "PATCH", "/api/recordings/r1", pub, "text/plain", patchBody, 415},
		{"patch: not JSON", "PATCH", "/api/recordings/r1", pub, "application/json", "nope", 400},
		{"patch: ok", "PATCH", "/api/recordings/r1", pub, "application/json", patchBody, 200},
		{"patch: ok without Content-Type", "PATCH", "/api/recordings/r1", pub, "", patchBody, 200},
		// DELETE /api/recordings/{id}, subtitles
		{"delete: unknown id, no token", "DELETE", "/api/recordings/nope", "", "", "", 401},
		{"delete: unknown id", "DELETE", "/api/recordings/nope", admin, "", "", 404},
		{"delete: publisher", "DELETE", "/api/recordings/r1", pub, "", "", 403},
		{"subtitles: unknown id, no token", "PUT", "/api/recordings/nope/subtitles/en", "", "text/vtt", "WEBVTT\n", 401},
		{"subtitles: unknown id", "PUT", "/api/recordings/nope/subtitles/en", pub, "text/vtt", "WEBVTT\n", 404},
		{"subtitles: JSON", "PUT", "/api/recordings/r1/subtitles/en", pub, "application/json", "WEBVTT\n", 415},
		{"subtitles: 3 MiB", "PUT", "/api/recordings/r1/subtitles/en", pub, "text/vtt", "WEBVTT\n" + strings.Repeat("a", 3<<20), 413},
		{"subtitles delete: unknown id, no token", "DELETE", "/api/recordings/nope/subtitles/en", "", "", "", 401},
		// /api/rooms: GET and DELETE side by side
		{"rooms", "GET", "/api/rooms", "", "", "", 200},
		{"room: bad name", "GET", "/api/rooms/bad!name", "", "", "", 400},
		{"room: not live", "GET", "/api/rooms/shop", "", "", "", 404},
		{"end room: no token", "DELETE", "/api/rooms/shop", "", "", "", 401},
		{"end room: other room", "DELETE", "/api/rooms/shop", other, "", "", 403},
		{"end room: not live", "DELETE", "/api/rooms/shop", pub, "", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := send(t, tc.method, s.Base+tc.path, tc.token, tc.ctype, tc.body, nil)
			if code != tc.want {
				t.Errorf("%s %s = %d %q, want %d", tc.method, tc.path, code, msg, tc.want)
			}
			if code >= 400 && msg == "" {
				t.Errorf("%d without a JSON error message", code)
			}
		})
	}
}

// send makes one request and returns the status and the {"error"} message (decoding the body
// into v on success when v is not nil).
func send(t *testing.T, method, url, token, ctype, body string, v any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, b := testserver.Send(t, req, token)
	if res.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return res.StatusCode, e.Error
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %q", method, url, err, b)
		}
	}
	return res.StatusCode, ""
}
