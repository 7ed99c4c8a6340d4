package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
)

// join and leave carry an optional ref: joined and the error refusing a join echo it, so a
// client tells a refused join apart from another refused request; a join without a ref is
// answered as before.
func TestLiveJoinRef(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("jref")
		c := s.dial(t, 0).reading()
		if j := c.join(map[string]any{"room": r, "name": "Ana", "ref": "j1"}); j.Ref != "j1" {
			t.Fatalf("joined.ref = %q, want j1", j.Ref)
		}
		// Refused joins name their ref; the socket stays in its room.
		for _, bad := range []map[string]any{
			{"type": "join", "room": r, "token": "forged", "ref": "j2"},
			{"type": "join", "room": r, "ref": "j3"}, // a guest without a name
			{"type": "join", "room": "bad room!", "name": "x", "ref": "j4"},
			{"type": "join", "room": r, "name": "Ana", "after": 1 << 40, "ref": "j5"},
		} {
			c.send(bad)
			if m := c.reply(); m.Type != "error" || m.Ref != bad["ref"] {
				t.Fatalf("%v: %+v, want an error with ref %v", bad, m, bad["ref"])
			}
		}
		// A refused join and a refused chat sent together: each error names its request.
		c.send(map[string]any{"type": "join", "room": r, "token": "forged", "ref": "j6"})
		c.send(map[string]any{"type": "chat", "text": "", "ref": "c6"})
		got := map[string]string{}
		for range 2 {
			m := c.reply()
			if m.Type != "error" {
				t.Fatalf("got %+v, want errors", m)
			}
			got[m.Ref] = m.Code
		}
		if got["j6"] != "unauthorized" || got["c6"] != "bad_request" {
			t.Fatalf("errors by ref: %v", got)
		}
		c.send(map[string]any{"type": "chat", "text": "still in", "ref": "c7"})
		if m := c.reply(); m.Type != "ok" || m.Ref != "c7" {
			t.Fatalf("chat after refused joins: %+v", m)
		}
		// An over-long ref is refused (without echoing it) and changes nothing.
		c.send(map[string]any{"type": "join", "room": r, "name": "Bo", "ref": strings.Repeat("r", 65)})
		if m := c.wantError("bad_request"); m.Ref != "" {
			t.Errorf("over-long ref echoed: %q", m.Ref)
		}
		// An old client's join (no ref) is answered without one.
		if j := c.join(map[string]any{"room": r, "name": "Ana"}); j.Ref != "" {
			t.Fatalf("joined.ref = %q for a join without ref", j.Ref)
		}
		c.send(map[string]any{"type": "leave", "ref": "l1"})
		if m := c.reply(); m.Type != "ok" || m.Ref != "l1" {
			t.Fatalf("leave: %+v", m)
		}
		c.send(map[string]any{"type": "leave"})
		if m := c.reply(); m.Type != "ok" || m.Ref != "" {
			t.Fatalf("leave without ref: %+v", m)
		}
	})
}

// joined.last_lot: while no lot is open, the room's most recently ended lot (sold, unsold or
// cancelled), so someone who joins after a sale sees its result; null while a lot is open and
// in a room without ended lots.
func TestLiveLastLot(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("last")
		late := func() liveMsg {
			t.Helper()
			return s.dial(t, 0).reading().join(map[string]any{"room": r, "name": "Late"})
		}
		if j := late(); string(j.LastLot) != "null" || string(j.Lot) != "null" {
			t.Fatalf("empty room: lot %s last_lot %s", j.Lot, j.LastLot)
		}
		seller := s.dial(t, 0).reading()
		seller.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "seller", "", auth.GrantPublish)})
		bidder := s.dial(t, 0).reading()
		bidder.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "u-1", "Ana", auth.GrantBid)})
		lot := func(title string) string {
			t.Helper()
			seller.send(map[string]any{"type": "lot_create", "lot": map[string]any{"title": title, "start_price": 1000, "duration_s": 60}})
			m := seller.reply()
			if m.Type != "lot_result" {
				t.Fatalf("lot_create: %+v", m)
			}
			return lotOf(t, m.Lot).ID
		}
		act := func(typ, id string) liveLot {
			t.Helper()
			seller.send(map[string]any{"type": typ, "lot_id": id})
			m := seller.reply()
			if m.Type != "lot_result" {
				t.Fatalf("%s: %+v", typ, m)
			}
			return lotOf(t, m.Lot)
		}
		vase := lot("Vase")
		if j := late(); string(j.LastLot) != "null" {
			t.Fatalf("only a queued lot: last_lot %s", j.LastLot)
		}
		act("lot_start", vase)
		bidder.send(map[string]any{"type": "bid", "lot_id": vase, "amount": 1000})
		if m := bidder.reply(); !m.Accepted {
			t.Fatalf("bid: %+v", m)
		}
		if j := late(); lotOf(t, j.Lot).ID != vase || string(j.LastLot) != "null" {
			t.Fatalf("open lot: lot %s last_lot %s", j.Lot, j.LastLot)
		}
		act("lot_end", vase)
		j := late()
		ll := lotOf(t, j.LastLot)
		if string(j.Lot) != "null" || ll.ID != vase || ll.Status != "sold" || ll.Winner == nil || *ll.Winner != "u-1" ||
			!strings.Contains(string(j.LastLot), `"winner_name":"Ana"`) || ll.Price != 1000 {
			t.Fatalf("after the sale: lot %s last_lot %s", j.Lot, j.LastLot)
		}
		// A queued lot does not hide the last result; the next open lot does.
		mug := lot("Mug")
		if j := late(); lotOf(t, j.LastLot).ID != vase {
			t.Fatalf("with a queued lot: last_lot %s", j.LastLot)
		}
		act("lot_start", mug)
		if j := late(); string(j.LastLot) != "null" || lotOf(t, j.Lot).ID != mug {
			t.Fatalf("second lot open: lot %s last_lot %s", j.Lot, j.LastLot)
		}
		act("lot_end", mug) // no bids: unsold
		if ll := lotOf(t, late().LastLot); ll.ID != mug || ll.Status != "unsold" {
			t.Fatalf("after an unsold lot: %+v", ll)
		}
		time.Sleep(5 * time.Millisecond) // a later ended_at
		lamp := lot("Lamp")
		act("lot_cancel", lamp)
		if ll := lotOf(t, late().LastLot); ll.ID != lamp || ll.Status != "cancelled" {
			t.Fatalf("after a cancelled lot: %+v", ll)
		}
		// A resumed join carries it too.
		if j := s.dial(t, 0).reading().join(map[string]any{"room": r, "name": "Back", "after": 1}); !j.Resumed || lotOf(t, j.LastLot).ID != lamp {
			t.Fatalf("resumed join: resumed %v last_lot %s", j.Resumed, j.LastLot)
		}
	})
}

// A guest keeps their subject across sockets with the signed guest key of joined.you: a new
// socket (a reload) joining with it is the same guest, so a time-out or ban still holds; a
// forged or foreign key is ignored (a new guest); token holders get no key.
func TestLiveGuestKey(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("gkey")
		a := s.dial(t, 0).reading()
		j := a.join(map[string]any{"room": r, "name": "Ana"})
		key, subj := j.You.GuestKey, j.You.Subject
		if key == "" || !strings.HasPrefix(subj, "guest:") || !strings.Contains(key, strings.TrimPrefix(subj, "guest:")) {
			t.Fatalf("guest joined: %+v", j.You)
		}
		// A reload: a new socket with the key is the same guest (under the name chosen now).
		b := s.dial(t, 0).reading()
		if j := b.join(map[string]any{"room": r, "name": "Ana B", "guest_key": key}); j.You.Subject != subj || j.You.GuestKey != key || j.You.Name != "Ana B" {
			t.Fatalf("rejoin with the key: %+v, want subject %s", j.You, subj)
		}
		// In another room too (one browser, one guest).
		if j := s.dial(t, 0).reading().join(map[string]any{"room": r + "x", "name": "Ana", "guest_key": key}); j.You.Subject != subj {
			t.Fatalf("other room: %+v", j.You)
		}
		// Forged keys: another id with the same signature, a changed signature, garbage.
		other := strings.Replace(key, strings.TrimPrefix(subj, "guest:")[:4], "0000", 1)
		if other == key {
			other = strings.Replace(key, strings.TrimPrefix(subj, "guest:")[:4], "1111", 1)
		}
		sig := key[:len(key)-2] + flip(key[len(key)-2:])
		for _, forged := range []string{other, sig, "garbage", subj, strings.Repeat("a", 300)} {
			j := s.dial(t, 0).reading().join(map[string]any{"room": r, "name": "Mallory", "guest_key": forged})
			if j.You.Subject == subj || j.You.GuestKey == forged || j.You.GuestKey == "" || !j.You.Guest {
				t.Fatalf("forged key %q: %+v", forged, j.You)
			}
		}
		// A token holder is the token's subject, with no guest key.
		tj := s.dial(t, 0).reading().join(map[string]any{"room": r, "guest_key": key, "token": s.tokenFor(t, r, "u-1", "Uma", auth.GrantChat)})
		if tj.You.Subject != "u-1" || tj.You.GuestKey != "" || tj.You.Guest {
			t.Fatalf("token holder: %+v", tj.You)
		}
		// The moderator times the guest out; the reload with the key does not escape it.
		seller := s.dial(t, 0).reading()
		seller.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "seller", "", auth.GrantPublish)})
		seller.send(map[string]any{"type": "moderate", "action": "timeout", "subject": subj, "seconds": 60, "ref": "to"})
		if m := seller.reply(); m.Type != "ok" {
			t.Fatalf("timeout: %+v", m)
		}
		c := s.dial(t, 0).reading()
		c.join(map[string]any{"room": r, "name": "Ana", "guest_key": key})
		c.send(map[string]any{"type": "chat", "text": "I'm back", "ref": "x"})
		c.wantError("timed_out")
	})
}

// flip changes every character of s (base64url), so the result is a different signature.
func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

// A guest's time-out or ban also holds for their network address for its duration: a new guest
// from the same address (storage cleared, a new subject) is refused the same way; token holders
// on that address are not; unban lifts it; an expired time-out is over for the address too.
func TestLiveGuestIPRestriction(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("gip")
		seller := s.dial(t, 0).reading()
		seller.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "seller", "", auth.GrantPublish)})
		mod := func(action, subject string, seconds int) {
			t.Helper()
			m := map[string]any{"type": "moderate", "action": action, "subject": subject, "ref": action}
			if seconds > 0 {
				m["seconds"] = seconds
			}
			seller.send(m)
			if a := seller.reply(); a.Type != "ok" || a.Ref != action {
				t.Fatalf("%s: %+v", action, a)
			}
		}
		guest := func(name string) (*liveClient, string) {
			t.Helper()
			c := s.dial(t, 0).reading() // a fresh browser: no guest key, a new subject
			return c, c.join(map[string]any{"room": r, "name": name}).You.Subject
		}
		chat := func(c *liveClient, want string) {
			t.Helper()
			c.send(map[string]any{"type": "chat", "text": "hello", "ref": "h"})
			m := c.reply()
			if want == "ok" && (m.Type != "ok" || m.Ref != "h") || want != "ok" && (m.Type != "error" || m.Code != want) {
				t.Fatalf("chat: %+v, want %s", m, want)
			}
		}
		tok := s.dial(t, 0).reading()
		tok.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "u-tok", "Tom", auth.GrantChat)})

		// A token holder's time-out is theirs alone: guests on the same address chat.
		mod("timeout", "u-tok", 60)
		chat(tok, "timed_out")
		g0, _ := guest("Gil")
		chat(g0, "ok")
		mod("unban", "u-tok", 0)

		// A guest's time-out: a new guest from the address is timed out too, a token holder is not.
		g1, s1 := guest("Ann")
		mod("timeout", s1, 60)
		chat(g1, "timed_out")
		g2, s2 := guest("Ann again")
		if s2 == s1 {
			t.Fatal("a fresh socket without a key got the same subject")
		}
		chat(g2, "timed_out")
		chat(tok, "ok")
		// unban lifts it for the address.
		mod("unban", s1, 0)
		chat(g2, "ok")

		// A ban: the same, as banned.
		g3, s3 := guest("Bob")
		mod("ban", s3, 0)
		chat(g3, "banned")
		g4, _ := guest("Bob again")
		chat(g4, "banned")
		mod("unban", s3, 0)
		g5, _ := guest("Bob once more")
		chat(g5, "ok")

		// A short time-out ends for the address when it ends (Redis TIME).
		_, s6 := guest("Cid")
		mod("timeout", s6, 1)
		g7, _ := guest("Cid again")
		chat(g7, "timed_out")
		time.Sleep(1200 * time.Millisecond)
		chat(g7, "ok")
	})
}
