package live

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/live/chat"
)

// Roles of a chat message's sender.
const (
	RoleSeller    = "seller"
	RoleModerator = "moderator"
)

// Identity is who a socket or a request is in the live room: a token holder or a guest.
type Identity struct {
	Subject string
	Name    string
	Guest   bool
	// Room and Grants are the token's (Room "*" = every room); a guest has none.
	Room   string
	Grants []auth.Grant
	// IP is a guest's address on a socket ("" elsewhere): a guest's time-out or ban holds for it.
	IP string
	// IssuedAt is the token's issue time: a revocation of the subject after it ends the
	// identity's rights (Service.revoked).
	IssuedAt time.Time
}

// FromClaims is the identity of a verified token: its subject (a token without one is named
// by its hash, "token:<12 hex>"), its name claim (else the subject), its room and grants.
func FromClaims(c auth.Claims, token string) Identity {
	id := Identity{Subject: c.Subject, Room: c.Room, Grants: slices.Clone(c.Grants), IssuedAt: c.IssuedAt}
	if id.Subject == "" {
		h := sha256.Sum256([]byte(token))
		id.Subject = "token:" + hex.EncodeToString(h[:6])
	}
	id.Name = displayName(c.Name, id.Subject)
	return id
}

// displayName is the token's name as chat shows it (chat.ValidName: trimmed, at most
// chat.MaxNameRunes characters, longer names cut), else the subject (cut the same way).
func displayName(name, subject string) string {
	for _, n := range []string{name, subject} {
		if r := []rune(n); len(r) > chat.MaxNameRunes {
			n = string(r[:chat.MaxNameRunes])
		}
		if v, err := chat.ValidName(n); err == nil {
			return v
		}
	}
	return "user"
}

// Guest is a new guest's identity: subject "guest:<random>", the chosen name (a socket's join
// replaces the subject with the one a valid guest key names: guest.go).
func Guest(name string) Identity {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return Identity{Subject: "guest:" + hex.EncodeToString(b[:]), Name: name, Guest: true}
}

// ForRoom reports whether the identity may be in room at all: a guest always, a token only
// for its room or "*".
func (id Identity) ForRoom(room string) error {
	if id.Guest || id.Room == auth.AnyRoom || id.Room == room {
		return nil
	}
	return fmt.Errorf("%w: the token is for room %q, not %q", ErrUnauthorized, id.Room, room)
}

// Has reports whether the identity holds grant g on room, itself or implied (auth.Grant.Implies:
// admin implies every grant, publish implies moderate and chat, moderate implies chat).
func (id Identity) Has(room string, g auth.Grant) bool {
	if id.Guest {
		return false
	}
	return auth.Claims{Room: id.Room, Grants: id.Grants}.Allows(room, g)
}

// CanManage: lots and moderation need moderate, publish or admin on the room.
func (id Identity) CanManage(room string) bool {
	return id.Has(room, auth.GrantModerate) || id.Has(room, auth.GrantPublish)
}

// CanSeeSubjects: the bid log's subjects are shown to the room's managers only.
func (id Identity) CanSeeSubjects(room string) bool { return id.CanManage(room) }

// CheckManage is CanManage as an error.
func (id Identity) CheckManage(room, what string) error {
	if id.CanManage(room) {
		return nil
	}
	return fmt.Errorf("%w: %s needs the moderate, publish or admin grant on room %q", ErrUnauthorized, what, room)
}

// CheckBid: bidding needs the bid grant; guests never bid.
func (id Identity) CheckBid(room string) error {
	if id.Guest {
		return fmt.Errorf("%w: guests cannot bid, sign in with a token that has the bid grant", ErrUnauthorized)
	}
	if !id.Has(room, auth.GrantBid) {
		return fmt.Errorf("%w: bidding needs the bid grant on room %q", ErrUnauthorized, room)
	}
	return nil
}

// ChatNeedsSettings reports whether the identity's right to chat depends on the room's
// guest_chat setting (it has neither chat nor a managing grant).
func (id Identity) ChatNeedsSettings(room string) bool {
	return !id.Has(room, auth.GrantChat) && !id.CanManage(room)
}

// CheckChat: a chat grant (or a managing one) always chats; anyone else (guests, tokens without
// chat) only while the room's guest_chat is on.
func (id Identity) CheckChat(room string, guestChat bool) error {
	if !id.ChatNeedsSettings(room) || guestChat {
		return nil
	}
	if id.Guest {
		return fmt.Errorf("%w: guests may not chat in this room now", chat.ErrGuestsOff)
	}
	return fmt.Errorf("%w: chatting needs the chat grant while guest chat is off", ErrUnauthorized)
}

// Role is the chat role of the identity in room: seller (publish), moderator (moderate, admin).
func (id Identity) Role(room string) string {
	switch {
	case !id.Guest && id.ForRoom(room) == nil && slices.Contains(id.Grants, auth.GrantPublish):
		return RoleSeller
	case id.CanManage(room):
		return RoleModerator
	}
	return ""
}

// GrantNames are the grants as strings (for `you.grants`), never nil.
func (id Identity) GrantNames() []string {
	out := make([]string, 0, len(id.Grants))
	for _, g := range id.Grants {
		out = append(out, string(g))
	}
	return out
}
