package signin

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relaycast/relaycast/auth"
)

func TestDisplayName(t *testing.T) {
	tests := []struct {
		name string
		p    profile
		want string
	}{
		{"name first", profile{Name: "Zoë Ünal", PreferredUsername: "zoe", Email: "z@example.com"}, "Zoë Ünal"},
		{"preferred_username", profile{PreferredUsername: "zoe_1", Email: "z@example.com"}, "zoe_1"},
		{"email local part", profile{Email: "jane.doe@example.com"}, "jane.doe"},
		{"email without @", profile{Email: "jane"}, "jane"},
		{"nothing", profile{}, DefaultName},
		{"blank name falls through", profile{Name: " \t ", PreferredUsername: "pu"}, "pu"},
		{"control characters only fall through", profile{Name: "\x00\x1b", Email: "e@x"}, "e"},
		{"white space collapsed", profile{Name: "  Ana \n\t Lima  "}, "Ana Lima"},
		{"controls and bidi removed", profile{Name: "Ev\u202eil\x07 Corp"}, "Evil Corp"},
		{"invalid UTF-8 dropped", profile{Name: "B\xffob"}, "Bob"},
		{"long name cut", profile{Name: strings.Repeat("é", 100)}, strings.Repeat("é", auth.MaxNameRunes)},
		{"cut never ends in a space", profile{Name: strings.Repeat("a", 63) + " bcd"}, strings.Repeat("a", 63)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := displayName(tt.p)
			if got != tt.want {
				t.Fatalf("displayName = %q, want %q", got, tt.want)
			}
			if err := auth.ValidName(got); err != nil || utf8.RuneCountInString(got) > auth.MaxNameRunes {
				t.Fatalf("%q is not a valid name: %v", got, err)
			}
		})
	}
}

func TestSubjectFor(t *testing.T) {
	key := []byte("k1")
	a, err := subjectFor(key, "https://issuer.example", "248289761001")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := subjectFor(key, "https://issuer.example", "248289761001"); b != a {
		t.Fatal("not stable")
	}
	for _, other := range []struct{ key, iss, sub string }{
		{"k1", "https://issuer.example", "248289761002"},
		{"k1", "https://other.example", "248289761001"},
		{"k2", "https://issuer.example", "248289761001"},
		{"k1", "https://issuer.example\x00248289761001", ""}, // no ambiguity across the separator
	} {
		b, err := subjectFor([]byte(other.key), other.iss, other.sub)
		if err == nil && b == a {
			t.Fatalf("%v gives the same subject", other)
		}
	}
	if !strings.HasPrefix(a, SubjectPrefix) || strings.Contains(a, "248289761001") {
		t.Fatalf("subject %q", a)
	}
	for _, bad := range []string{"", strings.Repeat("s", 256), "a\nb", "\xff"} {
		if _, err := subjectFor(key, "https://issuer.example", bad); !errors.Is(err, ErrIDToken) {
			t.Errorf("sub %q: %v", bad, err)
		}
	}
}

func TestStateSeal(t *testing.T) {
	key := []byte("state-key")
	now := unixTime(1_700_000_000)
	p := pending{State: "s", Nonce: "n", Verifier: "v", Room: "shop", Return: "/watch/shop", Expires: 1_700_000_600}
	v := sealState(key, p)
	got, err := openState(key, v, now)
	if err != nil || got != p {
		t.Fatalf("open = %+v, %v", got, err)
	}
	enc, sig, _ := strings.Cut(v, ".")
	for name, bad := range map[string]string{
		"empty": "", "no dot": enc, "other key": sealState([]byte("other"), p), "cut signature": enc + "." + sig[:10],
		"garbage": "a.b", "empty fields": sealState(key, pending{Expires: 1_700_000_600}),
	} {
		if _, err := openState(key, bad, now); !errors.Is(err, ErrState) || errors.Is(err, errExpired) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := openState(key, v, unixTime(1_700_000_600)); !errors.Is(err, errExpired) || !errors.Is(err, ErrState) {
		t.Errorf("expired: %v", err)
	}
}

func unixTime(unix int64) time.Time { return time.Unix(unix, 0) }
