package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/internal/testserver"
)

// endpoint is one route of the README's API table that checks a token.
type endpoint struct {
	method, path string // {room} and {id} are filled in; {id} gets a real id for the id case
	grant        auth.Grant
	anyRoom      bool   // the grant must be for every room ("*")
	wrongRoom    int    // the status of another room's token (0: 403; WHIP answers 401, RFC 9725)
	body         string // a valid JSON body ("" for none)
	ctype        string // the body's Content-Type ("" application/json)
	hasID        bool   // the path names something that may not exist
	real         string // "recording" or "upload": another room's token is also tried on a real one
}

var apiWrites = []endpoint{
	{method: "POST", path: "/api/rooms/{room}/lots", grant: auth.GrantPublish, body: `{"title":"x","start_price":100,"duration_s":30}`},
	{method: "POST", path: "/api/rooms/{room}/lots/{id}/start", grant: auth.GrantPublish, hasID: true},
	{method: "POST", path: "/api/rooms/{room}/lots/{id}/end", grant: auth.GrantPublish, hasID: true},
	{method: "POST", path: "/api/rooms/{room}/lots/{id}/cancel", grant: auth.GrantPublish, hasID: true},
	{method: "POST", path: "/api/rooms/{room}/lots/{id}/bids", grant: auth.GrantBid, body: `{"amount":100}`, hasID: true},
	{method: "POST", path: "/api/rooms/{room}/chat", grant: auth.GrantChat, body: `{"text":"hi"}`},
	{method: "DELETE", path: "/api/rooms/{room}", grant: auth.GrantPublish},
	{method: "PATCH", path: "/api/recordings/{id}", grant: auth.GrantAdmin, anyRoom: true, body: `{"title":"t"}`, hasID: true, real: "recording"},
	{method: "DELETE", path: "/api/recordings/{id}", grant: auth.GrantAdmin, anyRoom: true, hasID: true, real: "recording"},
	{method: "POST", path: "/api/recordings/{id}/retry", grant: auth.GrantAdmin, anyRoom: true, hasID: true, real: "recording"},
	{method: "PUT", path: "/api/recordings/{id}/subtitles/en", grant: auth.GrantAdmin, anyRoom: true, body: "WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n", ctype: "text/vtt", hasID: true, real: "recording"},
	{method: "DELETE", path: "/api/recordings/{id}/subtitles/en", grant: auth.GrantAdmin, anyRoom: true, hasID: true, real: "recording"},
	{method: "POST", path: "/api/uploads", grant: auth.GrantPublish, body: `{"room":"{room}","filename":"a.mp4","size":1000}`},
	{method: "POST", path: "/api/uploads/{id}/complete", grant: auth.GrantPublish, body: `{"parts":[{"number":1,"etag":"x"}]}`, hasID: true, real: "upload"},
	{method: "POST", path: "/api/imports", grant: auth.GrantAdmin, anyRoom: true, body: `{"url":"https://example.com/a.mp4","title":"t","room":"{room}"}`},
	{method: "POST", path: "/api/admin/jobs/transcode/{id}/run", grant: auth.GrantAdmin, anyRoom: true, hasID: true},
	{method: "POST", path: "/api/admin/revocations", grant: auth.GrantAdmin, anyRoom: true, body: `{"subject":"someone"}`},
	{method: "DELETE", path: "/api/admin/revocations/{id}", grant: auth.GrantAdmin, anyRoom: true, hasID: true},
	{method: "GET", path: "/api/admin/jobs", grant: auth.GrantAdmin, anyRoom: true},
	{method: "GET", path: "/api/admin/recordings/{id}", grant: auth.GrantAdmin, anyRoom: true, hasID: true},
	{method: "GET", path: "/api/admin/revocations", grant: auth.GrantAdmin, anyRoom: true},
	{method: "POST", path: "/whip/{room}", grant: auth.GrantPublish, body: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", ctype: "application/sdp", wrongRoom: http.StatusUnauthorized},
}

// rawToken signs claims with secret the way auth does, for tokens auth will not issue: expired
// ones and forged ones.
func rawToken(t *testing.T, secret, room string, g auth.Grant, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": auth.Issuer, "sub": "someone", "room": room, "grants": []string{string(g)},
		"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": exp.Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestBadInputEveryEndpoint: every route of the API table that checks a token, with no token, a
// forged one, an expired one, a revoked one, one for another room, a 10 MB body, invalid UTF-8,
// the wrong Content-Type and an id that does not exist (answered only to a valid token): each is
// answered with its documented status and a JSON {"error"}, never a 5xx, and nothing changes.
func TestBadInputEveryEndpoint(t *testing.T) {
	s := start(t, nil)
	const room = "shop"
	signer := s.Signer()
	issue := func(room string, g auth.Grant, subject string) string {
		tok, err := signer.Issue(room, []auth.Grant{g}, time.Hour, subject)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin := issue(auth.AnyRoom, auth.GrantAdmin, "admin")
	revokedTok := func(g auth.Grant, r string) string { return issue(r, g, "revoked-user") }
	do := func(method, path, tok, ctype string, body io.Reader) (int, string, http.Header) {
		req, _ := http.NewRequest(method, s.url+path, body)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return res.StatusCode, string(b), res.Header
	}
	// The state that must not change: lots, recordings, revocations.
	snapshot := func() string {
		var out []string
		for _, p := range []string{"/api/rooms/" + room + "/lots", "/api/recordings", "/api/admin/revocations"} {
			_, body, _ := do("GET", p, admin, "", nil)
			out = append(out, body)
		}
		return strings.Join(out, "\n")
	}
	// Revoke revoked-user's tokens before the cases (the list then stays as it is).
	revoked := map[auth.Grant]map[string]string{}
	for _, e := range apiWrites {
		r := room
		if e.anyRoom {
			r = auth.AnyRoom
		}
		if revoked[e.grant] == nil {
			revoked[e.grant] = map[string]string{}
		}
		revoked[e.grant][r] = revokedTok(e.grant, r)
	}
	if code, body, _ := do("POST", "/api/admin/revocations", admin, "application/json", strings.NewReader(`{"subject":"revoked-user"}`)); code != http.StatusCreated {
		t.Fatalf("revoke: %d %s", code, body)
	}
	// Real things of room shop, for another room's token to be refused on (not "not found").
	realIDs := map[string]string{"recording": "rec-badinput"}
	if err := s.Archive().Catalog().Put(context.Background(), catalog.Recording{ID: "rec-badinput", Room: room, Title: "t",
		StartedAt: time.Now(), Status: catalog.StatusReady}); err != nil {
		t.Fatal(err)
	}
	code, body, _ := do("POST", "/api/uploads", issue(room, auth.GrantPublish, "seller"), "application/json",
		strings.NewReader(`{"room":"shop","filename":"a.mp4","size":1000}`))
	var up struct {
		ID string `json:"id"`
	}
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &up) != nil || up.ID == "" {
		t.Fatalf("create an upload: %d %s", code, body)
	}
	realIDs["upload"] = up.ID
	time.Sleep(50 * time.Millisecond)
	before := snapshot()

	huge := bytes.Repeat([]byte("a"), 10<<20)
	for _, e := range apiWrites {
		e := e
		t.Run(e.method+" "+e.path, func(t *testing.T) {
			tokRoom := room
			if e.anyRoom {
				tokRoom = auth.AnyRoom
			}
			valid := issue(tokRoom, e.grant, "someone")
			path := strings.ReplaceAll(strings.ReplaceAll(e.path, "{room}", room), "{id}", "nosuchid0000")
			body := strings.ReplaceAll(e.body, "{room}", room)
			ctype := e.ctype
			if ctype == "" && body != "" {
				ctype = "application/json"
			}
			bodyOf := func() io.Reader {
				if body == "" {
					return nil
				}
				return strings.NewReader(body)
			}
			check := func(name string, code int, resp string, want ...int) {
				t.Helper()
				ok := false
				for _, w := range want {
					ok = ok || code == w
				}
				var j map[string]any
				if !ok || json.Unmarshal([]byte(resp), &j) != nil || j["error"] == nil || j["error"] == "" {
					t.Errorf("%s: %d %q, want %v with a JSON {\"error\"}", name, code, strings.TrimSpace(resp), want)
				}
			}
			code, resp, _ := do(e.method, path, "", ctype, bodyOf())
			check("no token", code, resp, http.StatusUnauthorized)
			code, resp, _ = do(e.method, path, rawToken(t, "an-attackers-secret-0123", tokRoom, e.grant, time.Now().Add(time.Hour)), ctype, bodyOf())
			check("forged", code, resp, http.StatusUnauthorized)
			code, resp, _ = do(e.method, path, rawToken(t, testserver.Secret, tokRoom, e.grant, time.Now().Add(-time.Minute)), ctype, bodyOf())
			check("expired", code, resp, http.StatusUnauthorized)
			code, resp, _ = do(e.method, path, revoked[e.grant][tokRoom], ctype, bodyOf())
			check("revoked", code, resp, http.StatusUnauthorized)
			other := issue("other", e.grant, "someone")
			if e.real != "" {
				realPath := strings.ReplaceAll(strings.ReplaceAll(e.path, "{room}", room), "{id}", realIDs[e.real])
				code, resp, _ = do(e.method, realPath, other, ctype, bodyOf())
				check("another room's token on a real "+e.real, code, resp, http.StatusForbidden)
			} else if !e.hasID || strings.Contains(e.path, "{room}") || e.anyRoom {
				code, resp, _ = do(e.method, path, other, ctype, bodyOf())
				want := http.StatusForbidden
				if e.wrongRoom != 0 {
					want = e.wrongRoom
				}
				check("another room's token", code, resp, want)
			}
			if e.hasID {
				code, resp, _ = do(e.method, path, valid, ctype, bodyOf())
				check("an id that does not exist", code, resp, http.StatusNotFound)
			}
			if body != "" {
				code, resp, _ = do(e.method, path, valid, ctype, bytes.NewReader(huge))
				check("10 MB body", code, resp, http.StatusRequestEntityTooLarge, http.StatusNotFound)
				bad := strings.Replace(body, `"`, "\"\xff\xfe", 2)
				code, resp, _ = do(e.method, path, valid, ctype, strings.NewReader(bad))
				check("invalid UTF-8", code, resp, http.StatusBadRequest, http.StatusNotFound)
				code, resp, _ = do(e.method, path, valid, "text/plain", bodyOf())
				check("wrong Content-Type", code, resp, http.StatusUnsupportedMediaType, http.StatusBadRequest, http.StatusNotFound)
			}
		})
	}
	if after := snapshot(); after != before {
		t.Errorf("the state changed:\nbefore %s\nafter  %s", before, after)
	}
}
