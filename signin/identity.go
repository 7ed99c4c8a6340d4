package signin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/relaycast/relaycast/auth"
)

// subjectKeyPurpose derives the key of the subject hash from the auth secret.
const subjectKeyPurpose = "relaycast signin subject v1"

// SubjectPrefix starts the subject of every token minted by OIDC sign-in.
const SubjectPrefix = "oidc:"

// DefaultName is the display name of a signed-in viewer whose ID token carries none of name,
// preferred_username and email.
const DefaultName = "Viewer"

// maxProviderSubject bounds the provider's "sub" (OIDC Core says at most 255 ASCII characters).
const maxProviderSubject = 255

// subjectFor returns the relaycast subject of the provider account (issuer, sub):
// "oidc:" + base64url(first 16 bytes of HMAC-SHA256(key, issuer "\x00" sub)). It is stable for
// one issuer and one auth secret, the same on every node, and never reveals the provider's
// account id (which every viewer of the room sees in chat events otherwise, and which some
// providers use across every site). An empty, over-long or control-character sub is refused.
func subjectFor(key []byte, issuer, sub string) (string, error) {
	if sub == "" || len(sub) > maxProviderSubject || !utf8.ValidString(sub) || strings.ContainsFunc(sub, unicode.IsControl) {
		return "", fmt.Errorf("%w: the ID token's subject (sub) is empty or malformed", ErrIDToken)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(issuer))
	m.Write([]byte{0})
	m.Write([]byte(sub))
	return SubjectPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16]), nil
}

// profile is the part of the ID token's claims a display name is taken from.
type profile struct {
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
}

// displayName picks the first usable of name, preferred_username and the local part of email,
// cleaned by cleanName; DefaultName when none is left.
func displayName(p profile) string {
	local, _, _ := strings.Cut(p.Email, "@")
	for _, c := range []string{p.Name, p.PreferredUsername, local} {
		if n := cleanName(c); n != "" {
			return n
		}
	}
	return DefaultName
}

// cleanName makes s a valid auth name: invalid UTF-8 and every character auth.ValidName refuses
// (control characters, separators, bidirectional overrides) dropped, runs of white space made
// one space, trimmed, cut to auth.MaxNameRunes runes.
func cleanName(s string) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if auth.ValidName(string(r)) != nil {
			continue
		}
		if space {
			if n+1 >= auth.MaxNameRunes {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n >= auth.MaxNameRunes {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
