package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/internal/netguard"
)

// Results of the deliveries counter.
const (
	resultDelivered = "delivered"
	resultFailed    = "failed"
	resultGaveUp    = "gave_up"
)

// UserAgent is the User-Agent of every delivery.
const UserAgent = "relaycast-webhook/1"

// maxResponseBytes bounds how much of a receiver's answer is read (the rest is dropped with the
// connection); the first bytes go into the log of a failed attempt.
const (
	maxResponseBytes = 64 << 10
	logResponseBytes = 200
)

// Sign is the X-Relaycast-Signature value of body: "sha256=" + hex HMAC-SHA256(secret, body).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (the X-Relaycast-Signature header) is body's under secret,
// in constant time (for Go receivers and tests).
func Verify(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// newHTTPClient is the client of deliveries: no proxy from the environment (it would bypass the
// address check), redirects not followed (a 3xx is a failed attempt), and without allowPrivate
// every dial checked by netguard.
func newHTTPClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = netguard.Control(false, ErrAddressNotAllowed)
	}
	tr := &http.Transport{
		Proxy: nil, DialContext: d.DialContext, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: 5 * time.Second, MaxIdleConns: 16, MaxIdleConnsPerHost: 4,
		IdleConnTimeout: 60 * time.Second,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// process is the asynq handler of one delivery attempt: nil = delivered, asynq.SkipRetry =
// given up, any other error = retried after RetryDelay.
func (s *Sender) process(ctx context.Context, t *asynq.Task) error {
	var p payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.URL == "" || len(p.Body) == 0 {
		s.metrics.WithLabelValues(resultGaveUp).Inc()
		s.log.Error("bad delivery task, dropped", "err", err)
		return fmt.Errorf("%w: bad task: %v", asynq.SkipRetry, err)
	}
	log := s.log.With("type", p.Type, "id", p.ID, "url", redact(p.URL))
	if !s.urls[p.URL] {
		s.metrics.WithLabelValues(resultGaveUp).Inc()
		log.Warn("webhook URL no longer configured, delivery dropped")
		return fmt.Errorf("%w: URL no longer configured", asynq.SkipRetry)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	err := s.deliver(ctx, p)
	switch {
	case err == nil:
		s.metrics.WithLabelValues(resultDelivered).Inc()
		log.Info("delivered", "attempt", retried+1)
		return nil
	case errors.Is(err, ErrGone), errors.Is(err, ErrAddressNotAllowed), errors.Is(err, asynq.SkipRetry):
		s.metrics.WithLabelValues(resultGaveUp).Inc()
		log.Warn("delivery given up", "attempt", retried+1, "err", err)
		if errors.Is(err, asynq.SkipRetry) {
			return err
		}
		return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
	case retried >= maxRetry:
		s.metrics.WithLabelValues(resultGaveUp).Inc()
		log.Error("delivery given up after the last retry", "attempt", retried+1, "err", err)
		return err
	default:
		s.metrics.WithLabelValues(resultFailed).Inc()
		log.Warn("delivery failed, retried later", "attempt", retried+1, "err", err)
		return err
	}
}

// deliver makes one attempt: POST the body, signed, within Timeout.
func (s *Sender) deliver(ctx context.Context, p payload) error {
	ctx, cancel := context.WithTimeout(ctx, s.p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("X-Relaycast-Event", p.Type)
	req.Header.Set("X-Relaycast-Delivery", p.ID)
	req.Header.Set("Idempotency-Key", p.ID)
	req.Header.Set("X-Relaycast-Signature", Sign(s.p.Secret, p.Body))
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: post: %w", err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, logResponseBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes-logResponseBytes))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		return ErrGone
	default:
		return fmt.Errorf("%w: %d %q", ErrStatus, resp.StatusCode, bytes.TrimSpace(head))
	}
}
