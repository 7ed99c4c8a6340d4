package chat

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of names and other short strings.
const (
	MaxNameRunes    = 32   // display names: 1..32 characters after trimming
	maxSubjectBytes = 256  // token subjects ("guest:<random>", OIDC subjects)
	maxByBytes      = 256  // the "by" of a moderation action
	maxTitleRunes   = 200  // a pinned product's title
	maxIDBytes      = 64   // a pinned product's id
	maxURLBytes     = 2048 // a pinned product's image_url / url
	maxSlowModeS    = 600  // Settings.SlowModeS upper bound
	maxTimeout      = 7 * 24 * 60 * 60 * 1000
)

// badRune reports a character that chat text and names never contain: C0 controls (all of them,
// tab and newline included), DEL, C1 controls, the line and paragraph separators U+2028/U+2029
// (newlines by another name), and the bidi embedding/override/isolate controls U+202A..U+202E
// and U+2066..U+2069 that would let a message reorder the text around it.
func badRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == utf8.RuneError:
		return true // U+FFFD: what invalid UTF-8 decodes to; refused as such
	}
	return false
}

// blank reports a character that shows nothing: white space and invisible format characters
// (zero-width space, joiners, BOM, ...). A text made only of these is empty.
func blank(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || r == 0x3164 || r == 0x115f || r == 0x1160 || r == 0xffa0
}

// checkChars refuses invalid UTF-8 and bad characters; the error wraps ErrBadText.
func checkChars(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: invalid UTF-8", ErrBadText)
	}
	for i, r := range s {
		if badRune(r) {
			return fmt.Errorf("%w: character U+%04X at byte %d is not allowed", ErrBadText, r, i)
		}
	}
	return nil
}

func isBlank(s string) bool {
	for _, r := range s {
		if !blank(r) {
			return false
		}
	}
	return true
}

// ValidText checks a chat message: at most maxBytes bytes (ErrTooLong), valid UTF-8 without
// control characters or bidi overrides (ErrBadText), not empty or white space only (ErrEmpty).
// The text is kept as given: HTML is allowed and is only ever shown as text.
func ValidText(text string, maxBytes int) error {
	if len(text) > maxBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLong, len(text), maxBytes)
	}
	if err := checkChars(text); err != nil {
		return err
	}
	if isBlank(text) {
		return ErrEmpty
	}
	return nil
}

// ValidName checks a display name (a guest's chosen name, a token's name claim) and returns it
// trimmed of surrounding white space: 1..32 characters, the same character rules as chat text.
// Errors wrap ErrBadName.
func ValidName(name string) (string, error) {
	if err := checkChars(name); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadName, err)
	}
	name = strings.TrimFunc(name, blank)
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrBadName)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameRunes {
		return "", fmt.Errorf("%w: %d characters, the limit is %d", ErrBadName, n, MaxNameRunes)
	}
	return name, nil
}

// validToken checks a subject or "by" value: 1..max bytes, no bad characters.
func validToken(field, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: %s must be 1..%d bytes", ErrInvalid, field, max)
	}
	if checkChars(s) != nil {
		return fmt.Errorf("%w: %s has a bad character", ErrInvalid, field)
	}
	return nil
}

// roomRe is the room-name charset of the signaling layer: letters, digits, '_' and '-', 1..64.
var roomRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func validRoom(room string) error {
	if !roomRe.MatchString(room) {
		return fmt.Errorf("%w: room %q", ErrInvalid, room)
	}
	return nil
}

// linkRe finds URL-like text: a scheme (http://, https://, and a few others), "www.", or a
// domain-like word (labels joined by dots, ending in a letters-only top-level label) followed by
// a '/', a ':port', or — for common shop/link TLDs — the end of the word.
var linkRe = regexp.MustCompile(`(?i)` +
	`(\b(https?|ftp|wss?)://)|(\bwww\.)|` +
	`(\b[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*\.[a-z]{1,24}(/|:[0-9]))|` +
	`(\b[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*\.(com|net|org|io|co|me|ly|gg|tv|app|shop|store|link|info|biz|xyz|site|online|page|to|be|us|uk|de|fr)\b)`)

// HasLink reports whether text contains something that reads as a URL (see docs/CHAT.md).
func HasLink(text string) bool { return linkRe.MatchString(text) }

// validURL checks an optional http(s) URL of a pinned product.
func validURL(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxURLBytes || checkChars(s) != nil || strings.ContainsAny(s, " ") {
		return fmt.Errorf("%w: %s", ErrInvalid, field)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %s must be an http(s) URL", ErrInvalid, field)
	}
	return nil
}
