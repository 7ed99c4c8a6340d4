package chat

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzText checks chat text and display names as a client sends them (chat messages, guest
// names, a token's name claim). Properties: errors are chat's sentinels; an accepted name is
// valid UTF-8, 1..MaxNameRunes characters, and accepted again unchanged (idempotent); link
// detection answers for any text.
func FuzzText(f *testing.F) {
	for _, s := range []string{"hello", "  Ann  ", "visit shop.example.com/x", "www.x", "\u202eevil", "\x00", "\xff",
		"a\u200b", "😀😀😀", "\t\n", "https://example.com:8080/a?b", "x.y.z.shop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := ValidText(s, 2048); err != nil && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrBadText) && !errors.Is(err, ErrEmpty) {
			t.Fatalf("ValidText(%q) = %v: no sentinel", s, err)
		}
		_ = HasLink(s)
		n, err := ValidName(s)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("ValidName(%q) = %v: not ErrBadName", s, err)
			}
			return
		}
		if !utf8.ValidString(n) || n == "" || utf8.RuneCountInString(n) > MaxNameRunes {
			t.Fatalf("ValidName(%q) accepted %q", s, n)
		}
		if n2, err := ValidName(n); err != nil || n2 != n {
			t.Fatalf("ValidName not idempotent on %q: %q %v", n, n2, err)
		}
	})
}

// FuzzProduct checks a pinned product as a moderate/pin message carries it (JSON). Properties:
// errors wrap ErrInvalid; an accepted product is accepted again unchanged.
func FuzzProduct(f *testing.F) {
	for _, s := range []string{
		`{"id":"p1","title":"Hat","image_url":"https://shop.example/hat.jpg","price":999,"stock":3,"url":"https://shop.example/hat"}`,
		`{"id":" p1","title":"x","price":-1}`, `{"id":"p","title":"","stock":-5}`, `{"id":"p","title":"t","url":"javascript:alert(1)"}`,
		`{"id":"p","title":"t","image_url":"http://[::1]:80/x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Product
		if json.Unmarshal(data, &p) != nil {
			return
		}
		q, err := validProduct(p)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("validProduct = %v: not ErrInvalid", err)
			}
			return
		}
		if q2, err := validProduct(q); err != nil || q2 != q {
			t.Fatalf("validProduct not idempotent: %+v -> %+v, %v", q, q2, err)
		}
	})
}
