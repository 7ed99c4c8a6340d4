package signaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/sfu"
)

// maxSDP bounds an offer or a trickle fragment.
const maxSDP = 64 << 10

func (s *Server) cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch, Accept-Post, Retry-After")
}

func (s *Server) iceLinks(w http.ResponseWriter) {
	for _, srv := range s.p.ICEServers {
		v := fmt.Sprintf(`<%s>; rel="ice-server"`, srv.URL)
		if srv.Username != "" {
			v += fmt.Sprintf(`; username="%s"; credential="%s"; credential-type="password"`, srv.Username, srv.Credential)
		}
		w.Header().Add("Link", v)
	}
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	var redirect *Redirect
	if errors.As(err, &redirect) {
		w.Header().Set("Location", redirect.URL)
		httpError(w, http.StatusTemporaryRedirect, err.Error())
		return
	}
	status, _ := statusOf(err)
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="relaycast"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.log.Warn("signaling request failed", "err", err)
	}
	httpError(w, status, err.Error())
}

// handleWHIP: POST /whip/{room} (RFC 9725) and OPTIONS.
func (s *Server) handleWHIP(w http.ResponseWriter, r *http.Request) { s.handleOffer(w, r, true) }

// handleWHEP: POST /whep/{room} and OPTIONS.
func (s *Server) handleWHEP(w http.ResponseWriter, r *http.Request) { s.handleOffer(w, r, false) }

func (s *Server) handleOffer(w http.ResponseWriter, r *http.Request, publish bool) {
	s.cors(w)
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Accept-Post", "application/sdp")
		s.iceLinks(w)
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed: POST an SDP offer")
		return
	}
	if s.refuseDrainingHTTP(w, r, publish) {
		return
	}
	room := r.PathValue("room")
	if !ValidRoom(room) {
		s.fail(w, errBadRoom)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/sdp" {
		httpError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/sdp")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDP))
	if err != nil {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("offer larger than %d bytes", maxSDP))
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		httpError(w, http.StatusBadRequest, "empty offer")
		return
	}
	token := auth.TokenFromRequest(r)
	var claims auth.Claims
	if publish || s.p.ViewerAuth {
		g := auth.GrantSubscribe
		if publish {
			g = auth.GrantPublish
		}
		if claims, err = s.p.Auth.Authorize(token, room, g); err != nil {
			s.fail(w, err)
			return
		}
	}
	release, ok := func() {}, true
	if publish || s.p.Unlimited == nil || !s.p.Unlimited(r) {
		release, ok = s.limiter.acquire(s.clientIP(r))
	}
	if !ok {
		s.fail(w, errBusy)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.p.NegotiateTimeout)
	defer cancel()
	var sess session
	var answer string
	if publish {
		var p *sfu.Publisher
		p, answer, err = s.p.SFU.Publish(ctx, sfu.PublishParams{Room: room, Offer: string(body), Owner: owner(claims, token), Subject: claims.Subject})
		if err == nil {
			sess = p
		}
	} else {
		var sub *sfu.Subscriber
		var q sfu.Quality
		if q, err = sfu.ParseQuality(r.URL.Query().Get("quality")); err != nil {
			release()
			s.fail(w, err)
			return
		}
		sub, answer, err = s.p.SFU.Subscribe(ctx, sfu.SubscribeParams{Room: room, Offer: string(body), Quality: q})
		if err == nil {
			sess = sub
		}
	}
	if err != nil {
		release()
		if errors.Is(err, sfu.ErrRoomNotLive) {
			err = fmt.Errorf("room %q is not live: %w", room, err)
		}
		s.fail(w, err)
		return
	}
	if !s.track(&httpSession{session: sess, publish: publish, room: room, token: token}, release) {
		_ = sess.Close()
		s.fail(w, sfu.ErrClosed)
		return
	}
	kind := "whep"
	if publish {
		kind = "whip"
	}
	loc := s.sessionLocation(kind, room, sess.ID()) // forward.go
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", loc)
	h.Set("ETag", `"`+sess.ID()+`"`)
	h.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	s.iceLinks(w)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// owner is the identity used for the publisher takeover rule: the token's subject, else the token.
func owner(c auth.Claims, token string) string {
	if c.Subject != "" {
		return "sub:" + c.Subject
	}
	return "tok:" + token
}

// track registers a WHIP/WHEP session until it ends.
func (s *Server) track(hs *httpSession, release func()) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.sessions[hs.ID()] = hs
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		<-hs.Done()
		release()
		s.mu.Lock()
		delete(s.sessions, hs.ID())
		s.mu.Unlock()
	}()
	return true
}

// handleSession: DELETE ends a WHIP/WHEP session, PATCH trickles candidates.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	s.cors(w)
	publish := strings.HasPrefix(r.URL.Path, "/whip/")
	s.mu.Lock()
	hs := s.sessions[r.PathValue("id")]
	s.mu.Unlock()
	if r.Method == http.MethodOptions {
		w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if hs == nil && s.forwardSession(w, r) { // forward.go: a session of another node
		return
	}
	if hs == nil || hs.publish != publish || hs.Room() != r.PathValue("room") {
		httpError(w, http.StatusNotFound, "no such session")
		return
	}
	switch r.Method {
	case http.MethodDelete:
		_ = hs.Close()
		w.WriteHeader(http.StatusOK)
	case http.MethodPatch:
		s.patch(w, r, hs)
	default:
		w.Header().Set("Allow", "PATCH, DELETE, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// patch applies a trickle-ice-sdpfrag (RFC 8840): candidate lines are added; an ICE restart
// (new ice-ufrag) is not supported and answered 501 so the client starts a new session.
func (s *Server) patch(w http.ResponseWriter, r *http.Request, hs *httpSession) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/trickle-ice-sdpfrag" {
		httpError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/trickle-ice-sdpfrag")
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != `"`+hs.ID()+`"` {
		httpError(w, http.StatusPreconditionFailed, "ETag does not match this session")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDP))
	if err != nil {
		httpError(w, http.StatusRequestEntityTooLarge, "fragment too large")
		return
	}
	cands, restart, err := parseSDPFrag(string(body))
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if restart {
		httpError(w, http.StatusNotImplemented, "ICE restart is not supported: start a new session")
		return
	}
	for _, c := range cands {
		if err := hs.AddICECandidate(c); err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseSDPFrag extracts candidates (with their m-line's mid) from a trickle-ice-sdpfrag. A
// fragment with ICE credentials but neither candidates nor end-of-candidates asks for an ICE
// restart.
func parseSDPFrag(frag string) (cands []webrtc.ICECandidateInit, restart bool, err error) {
	mid := ""
	mline := -1
	creds, end := false, false
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
		case strings.HasPrefix(line, "m="):
			mline++
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=ice-ufrag:"), strings.HasPrefix(line, "a=ice-pwd:"):
			creds = true
		case strings.HasPrefix(line, "a=end-of-candidates"):
			end = true
		case strings.HasPrefix(line, "a=candidate:"):
			c := webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")}
			if mid != "" {
				m := mid
				c.SDPMid = &m
			}
			if mline >= 0 {
				i := uint16(mline)
				c.SDPMLineIndex = &i
			}
			cands = append(cands, c)
		case strings.HasPrefix(line, "a="):
		default:
			return nil, false, fmt.Errorf("malformed sdpfrag line %q", line)
		}
	}
	return cands, creds && !end && len(cands) == 0, nil
}
