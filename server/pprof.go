package server

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// pprofEnv names a loopback address (host:port) where the server serves Go's profiles
// (/debug/pprof/…) for measurements such as docs/reports/rooms-idle-2026-12-07: a debugging aid,
// off unless set, never on a public address (a non-loopback host is refused with a warning).
const pprofEnv = "RELAYCAST_PPROF"

// startPprof serves the profiles when RELAYCAST_PPROF is set; the listener lives as long as the process.
func (s *Server) startPprof() {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		s.log.Warn("pprof not started: "+pprofEnv+" must be a loopback host:port", "addr", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			s.log.Warn("pprof stopped", "err", err)
		}
	}()
	s.log.Info("pprof listening", "addr", addr)
}
