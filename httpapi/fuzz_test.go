package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeJSON is every JSON body of the HTTP API (uploads, imports, lots, bids, chat,
// moderation, settings) as decodeJSON reads it, with a fuzzed Content-Type. Properties: a
// refusal is answered 400, 413 or 415 with a JSON {"error"}; an accepted body fits the limit.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"filename":"show.mp4","size":1048576,"content_type":"video/mp4","title":"Show","room":"shop"}`,
		`{"url":"https://cdn.example/v.mp4","title":"T","room":"imports"}`,
		`{"parts":[{"number":1,"etag":"\"abc\""}]}`, `{"amount":1500}`, `{"text":"hi"}`, `{"slow_mode_s":5}`,
		`{"a":` + strings.Repeat("[", 300) + `}`, `{"x":"\xff"}`, `{} {}`, ``,
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{}`), "text/plain")
	f.Add([]byte(`{}`), "application/json; charset=utf-8")
	f.Add([]byte(`{}`), "application/json;;")
	const limit = 1 << 10
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r := httptest.NewRequest(http.MethodPost, "/api/x", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		var v map[string]any
		if decodeJSON(w, r, limit, &v, "invalid JSON body") {
			if len(body) > limit+64 && !json.Valid(body[:limit]) {
				t.Fatalf("accepted %d bytes over the %d-byte limit", len(body), limit)
			}
			return
		}
		switch w.Code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d", w.Code)
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("error body %q", w.Body.String())
		}
	})
}

// FuzzPublicShowData strips the private fields (subjects, leader, winner, a bidder's maximum)
// from a room event's data before a public show answer carries it. Properties: the output is
// valid JSON with none of those keys at any depth, and stripping it again changes nothing.
func FuzzPublicShowData(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"subject":"u1","name":"Ann","text":"hi"}`,
		`{"lot":{"id":"l1","leader":"u2","winner":"u2","price":1500},"bid":{"subject":"u2","amount":1500,"max_amount":9000}}`,
		`[{"subject":"a"},{"x":[{"leader":"b"}]}]`, `12345678901234567890123`, `null`, `{"subject":`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := publicShowData(data)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q", out)
		}
		var check func(v any)
		check = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, e := range x {
					if private(k) {
						t.Fatalf("private key %q kept in %s", k, out)
					}
					check(e)
				}
			case []any:
				for _, e := range x {
					check(e)
				}
			}
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(out))
		d.UseNumber() // numbers past float64 (1E700) are valid JSON and kept as they came
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		check(v)
		if again := publicShowData(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %s -> %s", out, again)
		}
	})
}
