package sfu

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// What every peer connection would otherwise build for itself (issue 16, memory per viewer;
// docs/PERFORMANCE.md "Memory per idle viewer"): Pion's default logger factory makes five
// log.Loggers per scope per connection (≈ 6 KiB a viewer), each ICE agent enumerates the host's
// interfaces into a netlink dump it keeps (≈ 6.6 KiB; SettingEngine.SetNet shares the SFU's one,
// see listen), and each connection generates an ECDSA key and a self-signed certificate (≈ 3 KiB
// and the CPU of a key generation per join). These are shared per SFU.

// pionLogs is a logging.LoggerFactory whose loggers, one per scope for the SFU's lifetime, write
// to the SFU's slog logger: Pion's errors as errors, its warnings at debug level (Pion's default
// factory printed only errors, to stderr), nothing below.
type pionLogs struct {
	log *slog.Logger
	mu  sync.Mutex
	by  map[string]*pionLog
}

func newPionLogs(log *slog.Logger) *pionLogs {
	return &pionLogs{log: log, by: map[string]*pionLog{}}
}

// NewLogger implements logging.LoggerFactory. Scopes are a fixed set of Pion's package names,
// so the map stays small.
func (f *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.by[scope]
	if l == nil {
		l = &pionLog{log: f.log.With("pion", scope)}
		f.by[scope] = l
	}
	return l
}

// pionLog is one scope's logger (logging.LeveledLogger).
type pionLog struct{ log *slog.Logger }

func (l *pionLog) Trace(string)          {}
func (l *pionLog) Tracef(string, ...any) {}
func (l *pionLog) Debug(string)          {}
func (l *pionLog) Debugf(string, ...any) {}
func (l *pionLog) Info(string)           {}
func (l *pionLog) Infof(string, ...any)  {}
func (l *pionLog) Warn(msg string)       { l.log.Debug(msg) }
func (l *pionLog) Warnf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}
func (l *pionLog) Error(msg string)                  { l.log.Error(msg) }
func (l *pionLog) Errorf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }

// certLifetime is how long the SFU answers with one DTLS certificate before it makes the next
// (Pion's generated certificates are valid for a month; a connection keeps the one it started with).
const certLifetime = 24 * time.Hour

// dtlsCerts hands every new peer connection the SFU's current certificate. Sharing one across
// connections is what webrtc.CertificateFromX509 documents; each connection's fingerprint in its
// SDP still binds the DTLS handshake to the signalling.
type dtlsCerts struct {
	mu   sync.Mutex
	cert *webrtc.Certificate
	made time.Time
}

// config returns a Configuration carrying the current certificate, making a new one first when
// there is none or it is older than certLifetime.
func (c *dtlsCerts) config() (webrtc.Configuration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert == nil || time.Since(c.made) > certLifetime {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Configuration{}, fmt.Errorf("dtls key: %w", err)
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return webrtc.Configuration{}, fmt.Errorf("dtls certificate: %w", err)
		}
		c.cert, c.made = cert, time.Now()
	}
	return webrtc.Configuration{Certificates: []webrtc.Certificate{*c.cert}}, nil
}
