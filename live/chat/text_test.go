package chat_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/live/chat"
)

func TestValidText(t *testing.T) {
	cases := []struct {
		name, text string
		want       error
	}{
		{"plain", "hello there", nil},
		{"html is text", `<script>alert(1)</script><b>x</b>&amp;`, nil},
		{"emoji and accents", "ça va? 🔥🔥 日本語", nil},
		{"exactly 2048 bytes", strings.Repeat("a", 2048), nil},
		{"2049 bytes", strings.Repeat("a", 2049), chat.ErrTooLong},
		{"10 kB", strings.Repeat("x", 10*1024), chat.ErrTooLong},
		{"2048 bytes of 3-byte runes plus one", strings.Repeat("€", 683), chat.ErrTooLong},
		{"empty", "", chat.ErrEmpty},
		{"spaces", "   \u00a0\u3000 ", chat.ErrEmpty},
		{"zero-width only", "\u200b\u200d\ufeff", chat.ErrEmpty},
		{"NUL", "a\x00b", chat.ErrBadText},
		{"newline", "a\nb", chat.ErrBadText},
		{"tab", "a\tb", chat.ErrBadText},
		{"escape", "\x1b[31mred", chat.ErrBadText},
		{"DEL", "a\x7f", chat.ErrBadText},
		{"C1 NEL", "a\u0085b", chat.ErrBadText},
		{"C1 CSI", "a\u009bb", chat.ErrBadText},
		{"invalid UTF-8", "a\xff\xfeb", chat.ErrBadText},
		{"truncated UTF-8", "caf\xc3", chat.ErrBadText},
		{"surrogate half", "a\xed\xa0\x80b", chat.ErrBadText},
		{"RLO", "abc\u202etxt.exe", chat.ErrBadText},
		{"LRE", "\u202ax", chat.ErrBadText},
		{"isolate", "x\u2066y\u2069", chat.ErrBadText},
		{"FSI", "x\u2068", chat.ErrBadText},
		{"line separator", "a\u2028b", chat.ErrBadText},
		{"paragraph separator", "a\u2029b", chat.ErrBadText},
		{"bidi marks are fine", "abc\u200e\u200f", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := chat.ValidText(c.text, 2048)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("ValidText = %v, want %v", err, c.want)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"Alice", "Alice", true},
		{"  Bob  ", "Bob", true},
		{"Zoë 🐱", "Zoë 🐱", true},
		{strings.Repeat("é", 32), strings.Repeat("é", 32), true},
		{strings.Repeat("é", 33), "", false},
		{"<b>Eve</b>", "<b>Eve</b>", true},
		{"", "", false},
		{"   ", "", false},
		{"\u200b", "", false},
		{"a\nb", "", false},
		{"bad\xff", "", false},
		{"rlo\u202e", "", false},
	}
	for _, c := range cases {
		got, err := chat.ValidName(c.in)
		if c.ok != (err == nil) || got != c.want {
			t.Errorf("ValidName(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && (!errors.Is(err, chat.ErrBadName) || chat.Code(err) != "bad_request") {
			t.Errorf("ValidName(%q) error %v is not ErrBadName/bad_request", c.in, err)
		}
	}
}

func TestHasLink(t *testing.T) {
	links := []string{
		"see https://example.com", "HTTP://X.Y", "go to www.shop", "buy at shop.example/item/3",
		"a.b/c", "example.com", "my-store.shop now", "host.name:8080", "wss://x", "Shop.COM!",
	}
	plain := []string{
		"hello", "it costs 3.50 now", "e.g. this one", "and/or", "1.5/2 stars", "wow...nice", "ok.", "v2.0 is out",
		"<b>bold</b>", "mail me at noon",
	}
	for _, s := range links {
		if !chat.HasLink(s) {
			t.Errorf("HasLink(%q) = false, want true", s)
		}
	}
	for _, s := range plain {
		if chat.HasLink(s) {
			t.Errorf("HasLink(%q) = true, want false", s)
		}
	}
}

func TestCodes(t *testing.T) {
	want := map[error]string{
		chat.ErrTooLong: "too_long", chat.ErrEmpty: "bad_request", chat.ErrBadText: "bad_request",
		chat.ErrRateLimited: "rate_limited", chat.ErrSlowMode: "slow_mode", chat.ErrLinks: "links_off",
		chat.ErrTimedOut: "timed_out", chat.ErrBanned: "banned", chat.ErrGuestsOff: "guests_off",
		chat.ErrNotFound: "not_found", chat.ErrInvalid: "bad_request", errors.New("redis down"): "internal",
	}
	for err, code := range want {
		if got := chat.Code(err); got != code {
			t.Errorf("Code(%v) = %q, want %q", err, got, code)
		}
	}
}
