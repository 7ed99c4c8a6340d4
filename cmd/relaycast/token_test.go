package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/auth"
)

// TestTokenLiveGrants covers the live-room grants and the display name of `relaycast token`:
// the printed token verifies with exactly the grants, subject and name asked for, and what the
// grants imply (auth.Grant.Implies) holds for it.
func TestTokenLiveGrants(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
		grants     []auth.Grant
		subject    string
		display    string
		allows     []auth.Grant // on the token's room
		denies     []auth.Grant
	}{
		{name: "bidder", args: []string{"--room", "shop", "--bid", "--subject", "u-42", "--name", "Zoë"},
			grants: []auth.Grant{auth.GrantBid}, subject: "u-42", display: "Zoë",
			allows: []auth.Grant{auth.GrantBid}, denies: []auth.Grant{auth.GrantChat, auth.GrantModerate, auth.GrantPublish, auth.GrantSubscribe}},
		{name: "viewer set", args: []string{"--room", "shop", "--subscribe", "--chat", "--bid", "--subject", "u-1", "--name", "Bo B"},
			grants: []auth.Grant{auth.GrantSubscribe, auth.GrantChat, auth.GrantBid}, subject: "u-1", display: "Bo B",
			allows: []auth.Grant{auth.GrantSubscribe, auth.GrantChat, auth.GrantBid}, denies: []auth.Grant{auth.GrantModerate}},
		{name: "moderator", args: []string{"--room", "shop", "--moderate", "--subject", "mod-1"},
			grants: []auth.Grant{auth.GrantModerate}, subject: "mod-1",
			allows: []auth.Grant{auth.GrantModerate, auth.GrantChat}, denies: []auth.Grant{auth.GrantBid, auth.GrantPublish}},
		{name: "seller with a name", args: []string{"--room", "shop", "--publish", "--name", "Ana's shop"},
			grants: []auth.Grant{auth.GrantPublish}, display: "Ana's shop",
			allows: []auth.Grant{auth.GrantPublish, auth.GrantModerate, auth.GrantChat}, denies: []auth.Grant{auth.GrantBid, auth.GrantSubscribe}},
		{name: "admin implies bid", args: []string{"--admin", "--room", "shop"},
			grants: []auth.Grant{auth.GrantAdmin}, allows: auth.AllGrants()},
		{name: "64 character name", args: []string{"--room", "r", "--chat", "--subject", "s", "--name", strings.Repeat("ü", 64)},
			grants: []auth.Grant{auth.GrantChat}, subject: "s", display: strings.Repeat("ü", 64), allows: []auth.Grant{auth.GrantChat}},
		{name: "65 character name", args: []string{"--room", "r", "--chat", "--subject", "s", "--name", strings.Repeat("ü", 65)},
			wantCode: 2, wantStderr: "--name"},
		{name: "control character in name", args: []string{"--room", "r", "--chat", "--subject", "s", "--name", "a\nb"},
			wantCode: 2, wantStderr: "control character"},
		{name: "bid needs subject", args: []string{"--room", "r", "--bid", "--name", "N"}, wantCode: 2, wantStderr: "--subject"},
		{name: "chat needs subject", args: []string{"--room", "r", "--chat", "--subject", "  "}, wantCode: 2, wantStderr: "--subject"},
		{name: "moderate needs subject", args: []string{"--room", "r", "--moderate"}, wantCode: 2, wantStderr: "--subject"},
		{name: "bid needs a room", args: []string{"--bid", "--subject", "s"}, wantCode: 2, wantStderr: "--room is required"},
		{name: "no grant lists the new ones", args: []string{"--room", "r", "--subject", "s"}, wantCode: 2, wantStderr: "--bid, --moderate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runTokenCase(t, tt.args, map[string]string{"RELAYCAST_AUTH_SECRET": testSecret}, tt.wantCode, tt.wantStderr)
			if tt.wantCode != 0 {
				return
			}
			c := verifyPrinted(t, out)
			if !slices.Equal(c.Grants, tt.grants) || c.Subject != tt.subject || c.Name != tt.display {
				t.Fatalf("claims = %+v", c)
			}
			for _, g := range tt.allows {
				if !c.Allows(c.Room, g) {
					t.Errorf("token does not allow %s", g)
				}
			}
			for _, g := range tt.denies {
				if c.Allows(c.Room, g) {
					t.Errorf("token allows %s", g)
				}
			}
		})
	}
}

func TestTokenHelpNamesEveryGrant(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runToken([]string{"-h"}, envMap(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, g := range auth.AllGrants() {
		if !strings.Contains(stderr.String(), "-"+string(g)) {
			t.Errorf("help does not mention --%s", g)
		}
	}
	if !strings.Contains(stderr.String(), "-name") {
		t.Error("help does not mention --name")
	}
}
