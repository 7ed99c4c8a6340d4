package live

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/live/auction"
	"github.com/relaycast/relaycast/live/chat"
	"github.com/relaycast/relaycast/live/stream"
)

func tokenID(room string, grants ...auth.Grant) Identity {
	return FromClaims(auth.Claims{Room: room, Grants: grants, Subject: "u"}, "tok")
}

// Who may do what in room "r" (docs/LIVE.md's table).
func TestIdentityRules(t *testing.T) {
	guest := Guest("Ana")
	for _, c := range []struct {
		name            string
		id              Identity
		manage, bid     bool
		chatOn, chatOff string // "" ok, else the error code
		role            string
	}{
		{"guest", guest, false, false, "", CodeGuestsOff, ""},
		{"subscribe", tokenID("r", auth.GrantSubscribe), false, false, "", CodeUnauthorized, ""},
		{"chat", tokenID("r", auth.GrantChat), false, false, "", "", ""},
		{"bid", tokenID("r", auth.GrantBid), false, true, "", CodeUnauthorized, ""},
		{"moderate", tokenID("r", auth.GrantModerate), true, false, "", "", RoleModerator},
		{"publish", tokenID("r", auth.GrantPublish), true, false, "", "", RoleSeller},
		{"admin", tokenID("r", auth.GrantAdmin), true, true, "", "", RoleModerator},
		{"admin of every room", tokenID(auth.AnyRoom, auth.GrantAdmin), true, true, "", "", RoleModerator},
		{"publish elsewhere", tokenID("other", auth.GrantPublish), false, false, "", CodeUnauthorized, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.id.CanManage("r"); got != c.manage {
				t.Errorf("CanManage = %v", got)
			}
			if err := c.id.CheckManage("r", "x"); (err == nil) != c.manage {
				t.Errorf("CheckManage = %v", err)
			}
			if err := c.id.CheckBid("r"); (err == nil) != c.bid || (err != nil && !errors.Is(err, ErrUnauthorized)) {
				t.Errorf("CheckBid = %v", err)
			}
			for on, want := range map[bool]string{true: c.chatOn, false: c.chatOff} {
				err := c.id.CheckChat("r", on)
				if code, _ := Code(err); (want == "" && err != nil) || (want != "" && code != want) {
					t.Errorf("CheckChat(guest_chat %v) = %v, want %q", on, err, want)
				}
			}
			if got := c.id.Role("r"); got != c.role {
				t.Errorf("Role = %q", got)
			}
		})
	}
	if err := tokenID("other", auth.GrantPublish).ForRoom("r"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("ForRoom of another room's token: %v", err)
	}
	if g := Guest("x"); !strings.HasPrefix(g.Subject, "guest:") || g.Subject == Guest("x").Subject || g.GrantNames() == nil {
		t.Errorf("guest %+v", g)
	}
}

// A token's display name: the name claim trimmed and cut to chat's limit, else the subject,
// else a hash of the token for a token without a subject.
func TestDisplayName(t *testing.T) {
	long := strings.Repeat("é", 40)
	for _, c := range []struct {
		claims     auth.Claims
		name, subj string
	}{
		{auth.Claims{Room: "r", Subject: "u-1", Name: "  Ana "}, "Ana", "u-1"},
		{auth.Claims{Room: "r", Subject: "u-1"}, "u-1", "u-1"},
		{auth.Claims{Room: "r", Subject: "u-1", Name: long}, strings.Repeat("é", chat.MaxNameRunes), "u-1"},
		{auth.Claims{Room: "r", Subject: "u-1", Name: "a\u202eb"}, "u-1", "u-1"},
	} {
		id := FromClaims(c.claims, "tok")
		if id.Name != c.name || id.Subject != c.subj {
			t.Errorf("%+v: name %q subject %q, want %q %q", c.claims, id.Name, id.Subject, c.name, c.subj)
		}
	}
	a, b := FromClaims(auth.Claims{Room: "r"}, "tok-a"), FromClaims(auth.Claims{Room: "r"}, "tok-b")
	if !strings.HasPrefix(a.Subject, "token:") || a.Subject == b.Subject || a.Name != a.Subject {
		t.Errorf("subjectless tokens: %+v %+v", a, b)
	}
}

// Every error kind of the room has its code; unknown errors are internal.
func TestCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
		ok   bool
	}{
		{ErrBadRequest, CodeBadRequest, true},
		{fmt.Errorf("x: %w", auction.ErrInvalid), CodeBadRequest, true},
		{auth.ErrExpired, CodeUnauthorized, true},
		{fmt.Errorf("%w: %w", ErrUnauthorized, auth.ErrInvalidToken), CodeUnauthorized, true},
		{ErrNotJoined, CodeNotJoined, true},
		{ErrBadSeq, CodeBadSeq, true},
		{auction.ErrNotFound, CodeNotFound, true},
		{chat.ErrNotFound, CodeNotFound, true},
		{auction.ErrConflict, CodeConflict, true},
		{ErrRateLimited, CodeRateLimited, true},
		{chat.ErrTooLong, CodeTooLong, true},
		{chat.ErrRateLimited, CodeRateLimited, true},
		{chat.ErrSlowMode, CodeSlowMode, true},
		{chat.ErrLinks, CodeLinksOff, true},
		{chat.ErrTimedOut, CodeTimedOut, true},
		{chat.ErrBanned, CodeBanned, true},
		{chat.ErrGuestsOff, CodeGuestsOff, true},
		{chat.ErrBadName, CodeBadRequest, true},
		{stream.ErrClosed, CodeBusy, true},
		{auction.ErrClosed, CodeBusy, true},
		{errors.New("redis: connection refused"), CodeInternal, false},
	} {
		if code, ok := Code(c.err); code != c.code || ok != c.ok {
			t.Errorf("Code(%v) = %q %v, want %q %v", c.err, code, ok, c.code, c.ok)
		}
	}
}

// The bid limiter: a burst, then the sustained rate; buckets are per key.
func TestLimiter(t *testing.T) {
	l := newLimiter(10, 20)
	now := time.Unix(1000, 0)
	n := 0
	for l.allow("a", now) {
		n++
	}
	if n != 20 || !l.allow("b", now) {
		t.Fatalf("burst %d", n)
	}
	if l.allow("a", now.Add(50*time.Millisecond)) || !l.allow("a", now.Add(100*time.Millisecond)) {
		t.Error("not 10 a second after the burst")
	}
	if !l.allow("c", now.Add(2*time.Minute)) || len(l.buckets) != 1 {
		t.Errorf("idle buckets kept: %d", len(l.buckets))
	}
}
