package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/internal/testserver"
)

// TestRevokeAcrossNodes: two nodes on one real Redis. An admin revokes a user's tokens on node
// A; within a second node B refuses them over HTTP (401), its socket opened with one is closed
// with 1008 "token revoked", and a socket that joined the live room with one has its next bid
// refused; a token issued after the revocation works; lifting it lets the old ones work again.
func TestRevokeAcrossNodes(t *testing.T) {
	addr, _ := redistest.Own(t)
	shared := func(c *config.Config) { c.Record = false; c.RedisURL = "redis://" + addr }
	a, b := start(t, shared), start(t, shared)
	la, lb := &liveServer{testServer: a}, &liveServer{testServer: b}
	r := room("revoke")
	old := lb.tokenFor(t, r, "u-bad", "Bad", auth.GrantBid, auth.GrantChat)
	admin := testserver.Token(t, a.Server, auth.AnyRoom, auth.GrantAdmin)

	bidder := lb.dial(t, 0).reading()
	bidder.join(map[string]any{"room": r, "token": old})
	sock, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.url, "http")+"/ws?token="+old, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := sock.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	seller := la.dial(t, 0).reading()
	seller.join(map[string]any{"room": r, "token": la.tokenFor(t, r, "seller", "", auth.GrantPublish)})
	seller.send(map[string]any{"type": "lot_create", "ref": "c", "lot": map[string]any{"title": "Vase", "start_price": 1000, "duration_s": 60}})
	id := lotOf(t, seller.reply().Lot).ID
	seller.send(map[string]any{"type": "lot_start", "lot_id": id, "ref": "s"})
	seller.reply()

	api := func(method, url, tok string, body any) int {
		var buf bytes.Buffer
		if body != nil {
			_ = json.NewEncoder(&buf).Encode(body)
		}
		req, _ := http.NewRequest(method, url, &buf)
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	chatOnB := func(tok string) int {
		return api(http.MethodPost, b.url+"/api/rooms/"+r+"/chat", tok, map[string]string{"text": "hello"})
	}
	if code := chatOnB(old); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("chat before the revocation: %d", code)
	}
	if code := api(http.MethodPost, a.url+"/api/admin/revocations", old, map[string]string{"subject": "u-bad"}); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Fatalf("a non-admin revoking: %d", code)
	}
	if code := api(http.MethodPost, a.url+"/api/admin/revocations", admin, map[string]string{"subject": ""}); code != http.StatusBadRequest {
		t.Fatalf("an empty subject: %d", code)
	}
	revoked := time.Now()
	if code := api(http.MethodPost, a.url+"/api/admin/revocations", admin, map[string]string{"subject": "u-bad"}); code != http.StatusCreated {
		t.Fatalf("revoke: %d", code)
	}
	for chatOnB(old) != http.StatusUnauthorized {
		if time.Since(revoked) > 2*time.Second {
			t.Fatal("node B still takes the revoked token 2 s after the revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("node B refuses the revoked token %v after the revocation on node A", time.Since(revoked).Round(time.Millisecond))
	select {
	case err := <-closed:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "token revoked" {
			t.Fatalf("the socket with the revoked token closed with %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the socket opened with the revoked token stays open")
	}
	bidder.send(map[string]any{"type": "bid", "lot_id": id, "amount": 1000, "ref": "b"})
	if m := bidder.wantError("unauthorized"); !strings.Contains(m.Message, "revoked") {
		t.Fatalf("a joined socket's bid after the revocation: %+v", m)
	}
	time.Sleep(1100 * time.Millisecond) // a JWT's issue time has whole seconds
	if code := chatOnB(lb.tokenFor(t, r, "u-bad", "Bad", auth.GrantChat)); code == http.StatusUnauthorized {
		t.Fatal("a token issued after the revocation is refused")
	}
	if code := api(http.MethodDelete, b.url+"/api/admin/revocations/u-bad", admin, nil); code != http.StatusNoContent {
		t.Fatalf("lift: %d", code)
	}
	if code := api(http.MethodDelete, b.url+"/api/admin/revocations/u-bad", admin, nil); code != http.StatusNotFound {
		t.Fatalf("lift again: %d", code)
	}
	for deadline := time.Now().Add(2 * time.Second); chatOnB(old) == http.StatusUnauthorized; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the old token is still refused after the lift")
		}
	}
}

// TestRotateSecret: a node started with a new --auth-secret and the old one in
// --auth-previous-secrets takes tokens of both; tokens it issues use the new one only.
func TestRotateSecret(t *testing.T) {
	oldSigner, _ := auth.NewSigner([]byte(testserver.Secret))
	oldTok, _ := oldSigner.Issue("shop", []auth.Grant{auth.GrantChat}, time.Hour, "u-1")
	s := start(t, func(c *config.Config) {
		c.Record, c.AuthSecret, c.AuthPreviousSecrets = false, "the-new-secret-0123456789", []string{testserver.Secret}
	})
	newTok, _ := s.Signer().Issue("shop", []auth.Grant{auth.GrantChat}, time.Hour, "u-2")
	if _, err := oldSigner.Verify(newTok); err == nil {
		t.Fatal("the node signs with the previous secret")
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/rooms/shop/chat", strings.NewReader(`{"text":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusUnauthorized {
			t.Errorf("the %s secret's token refused during the rotation", name)
		}
	}
}
