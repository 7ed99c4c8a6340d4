package signin

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

// failure is what an error page says: a stable code (docs/AUTH.md) and a sentence for people.
type failure struct {
	Status  int
	Code    string
	Message string
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Sign-in failed</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}
code{background:#f0f0f3;padding:0 .25rem;border-radius:4px}a{color:#0a5bd3}</style></head>
<body><h1>Sign-in failed</h1><p>{{.Message}}</p><p><small>Error code: <code>{{.Code}}</code></small></p>
<p><a href="{{.Back}}">Back</a></p></body></html>
`))

// writeFailure answers f as JSON {"error", "code"} when the client asks for JSON (Accept:
// application/json), else as a small HTML page. back is the same-site path of its "Back" link.
func writeFailure(w http.ResponseWriter, r *http.Request, f failure, back string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if wantsJSON(r) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": f.Message, "code": f.Code})
		return
	}
	if back == "" {
		back = "/"
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(f.Status)
	_ = errorPage.Execute(w, struct {
		Message, Code, Back string
	}{f.Message, f.Code, back})
}

// wantsJSON reports whether r's Accept header names application/json before text/html.
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	j := strings.Index(a, "application/json")
	if j < 0 {
		return false
	}
	h := strings.Index(a, "text/html")
	return h < 0 || j < h
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
