package signaling_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
)

// startSignaling serves signaling (with families beside the built-in ones) over an SFU made
// from cfg, accepting every token; it returns the SFU and the server's base URL. Everything is
// closed when the test ends.
func startSignaling(t *testing.T, cfg sfu.Config, families ...signaling.Family) (*sfu.SFU, string) {
	t.Helper()
	s, err := sfu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	sig := signaling.New(signaling.Params{SFU: s, Auth: allowAll{}, Families: families})
	mux := http.NewServeMux()
	sig.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = sig.Close() })
	return s, hs.URL
}
