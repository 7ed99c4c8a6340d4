// Package client is a WebRTC client on Pion: a synthetic publisher and a measuring viewer that
// talk to relaycast over WHIP/WHEP (or hand their SDP to any exchange function). Tests and the
// loadtest harness use it; it needs no browser.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Config selects how the client's peer connections gather candidates.
type Config struct {
	// Loopback keeps ICE on 127.0.0.1 (tests, local load runs).
	Loopback bool
	// TWCC stamps a transport-wide sequence number on every packet sent, as browsers do, so
	// the server sends transport-cc feedback (Pion's default interceptors do not).
	TWCC bool
}

// NewAPI builds a Pion API with default codecs and interceptors.
func NewAPI(cfg Config) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	if cfg.TWCC {
		if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
			return nil, err
		}
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// offer creates an offer on pc and waits until all candidates are in it.
func offer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	o, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// Exchange sends an offer and returns the answer (WHIP/WHEP, the WebSocket protocol, or a direct
// call into an SFU in tests).
type Exchange func(ctx context.Context, offer string) (answer string, err error)

// HTTPError is a non-2xx answer of a WHIP/WHEP endpoint.
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	msg := strings.TrimSpace(e.Body)
	var j struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(msg), &j) == nil && j.Error != "" { // relaycast answers {"error": ...}
		msg = j.Error
	}
	return fmt.Sprintf("http %d: %s", e.Status, msg)
}

// ErrNoLocation: the server answered 201 without a Location header.
var ErrNoLocation = errors.New("201 without Location")

// WHIP returns an Exchange that POSTs the offer to url (a WHIP or WHEP endpoint) with the token as
// Bearer. The session URL (Location, resolved against url) is stored in *location if non-nil.
func WHIP(hc *http.Client, url, token string, location *string) Exchange {
	if hc == nil {
		hc = http.DefaultClient
	}
	return func(ctx context.Context, offer string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(offer))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/sdp")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusCreated {
			return "", &HTTPError{Status: resp.StatusCode, Body: string(body)}
		}
		loc := resp.Header.Get("Location")
		if loc == "" {
			return "", ErrNoLocation
		}
		if location != nil {
			u, err := resp.Request.URL.Parse(loc)
			if err != nil {
				return "", err
			}
			*location = u.String()
		}
		return string(body), nil
	}
}

// Delete ends a WHIP/WHEP session.
func Delete(ctx context.Context, hc *http.Client, location, token string) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &HTTPError{Status: resp.StatusCode, Body: string(body)}
	}
	return nil
}

// negotiate offers on pc, exchanges the offer through ex, applies the answer and waits until
// connected is closed.
func negotiate(ctx context.Context, pc *webrtc.PeerConnection, ex Exchange, connected <-chan struct{}) error {
	o, err := offer(ctx, pc)
	if err != nil {
		return err
	}
	ans, err := ex(ctx, o)
	if err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans}); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	return waitConnected(ctx, pc, connected)
}

func waitConnected(ctx context.Context, pc *webrtc.PeerConnection, connected <-chan struct{}) error {
	select {
	case <-connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for connection (state %s): %w", pc.ConnectionState(), ctx.Err())
	}
}

func since(t time.Time) time.Duration { return time.Since(t) }

// readKeyframeRequests drains a sender's RTCP (feeding the interceptors) and calls onPLI for
// every keyframe request (PLI or FIR), until the sender closes.
func readKeyframeRequests(s *webrtc.RTPSender, onPLI func()) {
	buf := make([]byte, 1500)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pk := range pkts {
			switch pk.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				onPLI()
			}
		}
	}
}
