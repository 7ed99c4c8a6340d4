package auth

import (
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"
)

// AllGrants returns every grant a user's token may carry, in canonical order (the order
// Effective uses): subscribe, chat, bid, moderate, publish, admin. The node-to-node GrantRelay
// is valid but not listed: no user needs it and admin does not imply it.
func AllGrants() []Grant {
	return []Grant{GrantSubscribe, GrantChat, GrantBid, GrantModerate, GrantPublish, GrantAdmin}
}

// Implies reports whether a token holding g may do what h allows. Every grant
// implies itself, and:
//
//   - admin implies every grant (on the token's room, or on every room for "*");
//   - publish implies moderate and chat: the seller moderates their own room
//     (and manages its lots, which the publish grant itself covers);
//   - moderate implies chat: a moderator can always speak in the room;
//   - relay (node to node: an edge pulling the room) implies subscribe.
//
// Nothing implies bid but bid and admin, nothing implies subscribe but
// subscribe, relay and admin, nothing but admin implies publish, and nothing but
// relay implies relay (admin does not: a node-to-node pull is not a user's
// right). Unknown grants imply nothing and are implied by nothing.
func (g Grant) Implies(h Grant) bool {
	if !g.Valid() || !h.Valid() {
		return false
	}
	if h == GrantRelay {
		return g == GrantRelay
	}
	switch g {
	case h, GrantAdmin:
		return true
	case GrantRelay:
		return h == GrantSubscribe
	case GrantPublish:
		return h == GrantModerate || h == GrantChat
	case GrantModerate:
		return h == GrantChat
	}
	return false
}

// Effective returns every grant the claims confer, the implied ones included,
// in canonical order (subscribe, chat, bid, moderate, publish, admin; relay last when held). It does
// not look at the room: combine it with Allows for a given room.
func (c Claims) Effective() []Grant {
	var out []Grant
	for _, g := range append(AllGrants(), GrantRelay) {
		if slices.ContainsFunc(c.Grants, func(have Grant) bool { return have.Implies(g) }) {
			out = append(out, g)
		}
	}
	return out
}

// MaxNameRunes is the longest display name (the "name" claim) accepted, in runes.
const MaxNameRunes = 64

// ValidName checks a display name: valid UTF-8, at most MaxNameRunes runes, no
// control characters (C0, DEL, C1), no line or paragraph separators and no
// bidirectional-override characters (which could make a name display as
// another). The empty name is valid (no name).
func ValidName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: the name is not valid UTF-8", ErrBadName)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameRunes {
		return fmt.Errorf("%w: the name has %d characters, at most %d allowed", ErrBadName, n, MaxNameRunes)
	}
	for _, r := range name {
		if unicode.IsControl(r) || isSpoofingFormat(r) {
			return fmt.Errorf("%w: the name contains the control character %U", ErrBadName, r)
		}
	}
	return nil
}

// isSpoofingFormat reports the separators and bidirectional controls ValidName refuses.
func isSpoofingFormat(r rune) bool {
	switch {
	case r == '\u2028', r == '\u2029': // line / paragraph separator
		return true
	case r >= '\u202a' && r <= '\u202e': // LRE, RLE, PDF, LRO, RLO
		return true
	case r >= '\u2066' && r <= '\u2069': // LRI, RLI, FSI, PDI
		return true
	case r == '\u200e', r == '\u200f', r == '\u061c': // LRM, RLM, ALM
		return true
	}
	return false
}
