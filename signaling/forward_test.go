package signaling_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
)

// TestForwardSession: a PATCH or DELETE of a session this node does not hold, whose URL names
// another node (?node=), goes to ForwardSession; one naming this node, or none, is 404 as before.
func TestForwardSession(t *testing.T) {
	s, err := sfu.New(sfu.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var forwarded []string
	sig := signaling.New(signaling.Params{SFU: s, Auth: allowAll{},
		SessionNode: func() string { return "self" },
		ForwardSession: func(w http.ResponseWriter, r *http.Request, node string) bool {
			forwarded = append(forwarded, r.Method+" "+node)
			w.WriteHeader(http.StatusTeapot)
			return true
		},
	})
	t.Cleanup(func() { _ = sig.Close() })
	mux := http.NewServeMux()
	sig.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodDelete, "/whip/r1/abc?node=other", http.StatusTeapot},
		{http.MethodPatch, "/whep/r1/abc?node=n%3A2", http.StatusTeapot},
		{http.MethodDelete, "/whip/r1/abc?node=self", http.StatusNotFound},
		{http.MethodDelete, "/whip/r1/abc", http.StatusNotFound},
		{http.MethodGet, "/whip/r1/abc?node=other", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tc.method, hs.URL+tc.path, strings.NewReader("a=end-of-candidates\r\n"))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, res.StatusCode, tc.want)
		}
	}
	if got := strings.Join(forwarded, ","); got != "DELETE other,PATCH n:2" {
		t.Errorf("forwarded %q", got)
	}
}
