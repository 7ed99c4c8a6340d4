package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
)

// hello announces the live room; a live message before join is not_joined and changes nothing.
func TestLiveHelloAndNotJoined(t *testing.T) {
	s := &liveServer{testServer: start(t, nil)}
	c := s.dial(t, 0)
	c.msgs, c.err = make(chan liveMsg, 64), make(chan error, 1)
	var hello liveMsg
	if err := c.conn.ReadJSON(&hello); err != nil || hello.Type != "hello" || !slices.Equal(hello.Features, []string{"live"}) {
		t.Fatalf("hello = %+v, %v", hello, err)
	}
	go func() {
		for {
			var m liveMsg
			if err := c.conn.ReadJSON(&m); err != nil {
				c.err <- err
				close(c.msgs)
				return
			}
			c.msgs <- m
		}
	}()
	for _, m := range []map[string]any{
		{"type": "chat", "text": "hi", "ref": "c1"},
		{"type": "bid", "lot_id": "x", "amount": 100, "ref": "b1"},
		{"type": "moderate", "action": "ban", "subject": "x", "ref": "m1"},
	} {
		c.send(m)
		if r := c.wantError("not_joined"); r.Ref != m["ref"] {
			t.Errorf("%v: ref %q", m, r.Ref)
		}
	}
	// A live message that is not its type's JSON is a protocol violation (socket closed).
	c.send(map[string]any{"type": "bid", "lot_id": 7})
	for range c.msgs {
	}
	var ce *websocket.CloseError
	if err := <-c.err; !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
		t.Fatalf("bad bid JSON: %v, want close 1007", err)
	}
}

// Chat history on join, resume after a seq while the room keeps going (every event exactly once,
// in order), a forged after (bad_seq, nothing joined), and a resume older than the kept events
// (a snapshot).
func TestLiveJoinHistoryResume(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("hist")
		ctx := context.Background()
		// 60 chat messages by 20 guests (3 each, the rate limit).
		for g := range 20 {
			c := s.dial(t, 0).reading()
			c.join(map[string]any{"room": r, "name": "guest " + string(rune('a'+g))})
			for i := range 3 {
				c.send(map[string]any{"type": "chat", "text": "m" + string(rune('0'+i)), "ref": "r"})
				if m := c.reply(); m.Type != "ok" {
					t.Fatalf("chat: %+v", m)
				}
			}
		}
		v := s.dial(t, 0).reading()
		j := v.join(map[string]any{"room": r, "name": "Viewer"})
		if j.Seq != 60 || j.Resumed || len(j.Chat) != 50 || j.Chat[0].ID != 11 || j.Chat[49].ID != 60 || !j.You.Guest ||
			!strings.HasPrefix(j.You.Subject, "guest:") || j.You.Name != "Viewer" || string(j.Lot) != "null" {
			t.Fatalf("fresh join: seq %d resumed %v chat %d [%v..] you %+v lot %s", j.Seq, j.Resumed, len(j.Chat), j.Chat[0], j.You, j.Lot)
		}

		// Resume after 40 while events keep coming: 41..60 in joined, the rest as events.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if _, err := s.Stream().Emit(ctx, r, "test", map[string]int{"i": i}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		rc := s.dial(t, 0).reading()
		j = rc.join(map[string]any{"room": r, "name": "Back", "after": 40})
		if !j.Resumed || len(j.Events) < 20 || j.Events[0].Seq != 41 {
			t.Fatalf("resume: resumed %v, %d events", j.Resumed, len(j.Events))
		}
		for _, l := range j.Chat {
			if l.ID <= 40 || l.ID > j.Seq {
				t.Errorf("resumed chat line %d outside (40, %d]", l.ID, j.Seq)
			}
		}
		seqs := []int64{}
		for _, e := range j.Events {
			seqs = append(seqs, e.Seq)
		}
		if seqs[len(seqs)-1] != j.Seq {
			t.Errorf("joined.seq %d, last replayed %d", j.Seq, seqs[len(seqs)-1])
		}
		wg.Wait()
		for seqs[len(seqs)-1] < 260 {
			seqs = append(seqs, rc.next("event").Seq)
		}
		for i, q := range seqs {
			if q != int64(41+i) {
				t.Fatalf("resumed seqs not 41..260 once each, in order: at %d got %d (%v)", i, q, seqs)
			}
		}

		// A forged after: bad_seq, the socket is not joined.
		f := s.dial(t, 0).reading()
		f.send(map[string]any{"type": "join", "room": r, "name": "Forger", "after": 100000})
		f.wantError("bad_seq")
		f.send(map[string]any{"type": "chat", "text": "x"})
		f.wantError("not_joined")

		// Older than the kept events (2000): a snapshot at the current seq.
		for i := range 2000 {
			if _, err := s.Stream().Emit(ctx, r, "test", map[string]int{"j": i}); err != nil {
				t.Fatal(err)
			}
		}
		g := s.dial(t, 0).reading()
		j = g.join(map[string]any{"room": r, "name": "Late", "after": 5})
		if j.Resumed || j.Seq != 2260 || len(j.Events) != 0 || len(j.Chat) != 50 {
			t.Fatalf("gap join: resumed %v seq %d events %d chat %d", j.Resumed, j.Seq, len(j.Events), len(j.Chat))
		}
	})
}

// Chat reaches every socket, HTML stays text, bad text is refused with its code and changes
// nothing, a moderator's delete reaches the others and leaves the history; a ban stops chat.
func TestLiveChatAndModeration(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("chat")
		a := s.dial(t, 0).reading()
		a.join(map[string]any{"room": r, "name": "Ana"})
		b := s.dial(t, 0).reading()
		jb := b.join(map[string]any{"room": r, "name": "Bo"})
		seller := s.dial(t, 0).reading()
		js := seller.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "seller-1", "", auth.GrantPublish)})
		if js.You.Guest || js.You.Subject != "seller-1" || !slices.Contains(js.You.Grants, "publish") || string(js.Lots) != "[]" {
			t.Fatalf("seller joined: %+v lots %s", js.You, js.Lots)
		}
		if jb.Lots != nil {
			t.Errorf("a guest got the lots: %s", jb.Lots)
		}

		a.send(map[string]any{"type": "chat", "text": "<b>hi</b> & bye", "ref": "a1"})
		if m := a.reply(); m.Type != "ok" || m.Ref != "a1" {
			t.Fatalf("chat reply %+v", m)
		}
		ev := b.event("chat")
		var line chatLine
		_ = json.Unmarshal(ev.Data, &line)
		if line.Text != "<b>hi</b> & bye" || line.Name != "Ana" || !line.Guest || line.ID != ev.Seq {
			t.Fatalf("chat event %s", ev.Data)
		}
		for _, c := range []struct{ text, code string }{
			{strings.Repeat("x", 10<<10), "too_long"},
			{"bell\x07", "bad_request"},
			{"", "bad_request"},
		} {
			a.send(map[string]any{"type": "chat", "text": c.text, "ref": "bad"})
			if m := a.wantError(c.code); m.Ref != "bad" {
				t.Errorf("%q: ref %q", c.code, m.Ref)
			}
		}
		// Invalid UTF-8 on the wire: the JSON decoder reads it as U+FFFD, which chat refuses.
		if err := a.conn.WriteMessage(websocket.TextMessage, []byte("{\"type\":\"chat\",\"text\":\"a\xffb\",\"ref\":\"u\"}")); err != nil {
			t.Fatal(err)
		}
		a.wantError("bad_request")
		// A guest cannot moderate; the seller deletes, everyone sees it, the history forgets it.
		b.send(map[string]any{"type": "moderate", "action": "delete", "id": line.ID, "ref": "m0"})
		b.wantError("unauthorized")
		seller.send(map[string]any{"type": "moderate", "action": "delete", "id": line.ID, "ref": "m1"})
		if m := seller.reply(); m.Type != "ok" || m.Ref != "m1" {
			t.Fatalf("delete: %+v", m)
		}
		del := b.event("chat.deleted")
		if !strings.Contains(string(del.Data), `"id":`+itoa(line.ID)) {
			t.Fatalf("chat.deleted %s", del.Data)
		}
		n := s.dial(t, 0).reading()
		for _, l := range n.join(map[string]any{"room": r, "name": "New"}).Chat {
			if l.ID == line.ID {
				t.Fatalf("deleted message %d still in the history", l.ID)
			}
		}
		// Ban Ana: her chat is refused, the others see user.ban.
		seller.send(map[string]any{"type": "moderate", "action": "ban", "subject": jAnaSubject(t, a, r), "ref": "m2"})
		if m := seller.reply(); m.Type != "ok" {
			t.Fatalf("ban: %+v", m)
		}
		b.event("user.ban")
		a.send(map[string]any{"type": "chat", "text": "still here?"})
		a.wantError("banned")
		// Settings: guest chat off refuses guests with guests_off.
		seller.send(map[string]any{"type": "moderate", "action": "settings", "settings": map[string]any{"guest_chat": false}})
		if m := seller.reply(); m.Type != "ok" {
			t.Fatalf("settings: %+v", m)
		}
		ev = b.event("room.settings")
		if !strings.Contains(string(ev.Data), `"guest_chat":false`) || !strings.Contains(string(ev.Data), `"links":true`) {
			t.Fatalf("room.settings %s", ev.Data)
		}
		b.send(map[string]any{"type": "chat", "text": "hello?"})
		b.wantError("guests_off")
		for _, bad := range []map[string]any{
			{"type": "moderate", "action": "settings", "settings": map[string]any{"colour": "red"}},
			{"type": "moderate", "action": "settings", "settings": "slow"},
			{"type": "moderate", "action": "settings", "settings": map[string]any{"slow_mode_s": "x"}},
			{"type": "moderate", "action": "timeout", "subject": "x", "seconds": 0},
			{"type": "moderate", "action": "timeout", "seconds": 30},
			{"type": "moderate", "action": "delete"},
			{"type": "moderate", "action": "pin"},
			{"type": "moderate", "action": "pin", "product": map[string]any{"id": "p", "title": "", "price": 1, "stock": 1}},
			{"type": "moderate", "action": "shout"},
		} {
			seller.send(bad)
			seller.wantError("bad_request")
		}
		// A time-out: the seller's own chat goes on, the timed-out user's is refused.
		t2 := s.dial(t, 0).reading()
		jt := t2.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "u-t", "Tim", auth.GrantChat)})
		seller.send(map[string]any{"type": "moderate", "action": "timeout", "subject": jt.You.Subject, "seconds": 60, "ref": "to"})
		if m := seller.reply(); m.Type != "ok" || m.Ref != "to" {
			t.Fatalf("timeout: %+v", m)
		}
		if ev := b.event("user.timeout"); !strings.Contains(string(ev.Data), `"subject":"u-t"`) {
			t.Fatalf("user.timeout %s", ev.Data)
		}
		t2.send(map[string]any{"type": "chat", "text": "let me speak"})
		t2.wantError("timed_out")
		// Pin a product: everyone gets it, a new join sees it.
		seller.send(map[string]any{"type": "moderate", "action": "pin", "product": map[string]any{"id": "p1", "title": "Lamp", "price": 1999, "stock": 3}})
		if m := seller.reply(); m.Type != "ok" {
			t.Fatalf("pin: %+v", m)
		}
		if ev := b.event("product"); !strings.Contains(string(ev.Data), `"Lamp"`) {
			t.Fatalf("product %s", ev.Data)
		}
		j := s.dial(t, 0).reading().join(map[string]any{"room": r, "name": "Late"})
		if !strings.Contains(string(j.Product), `"p1"`) {
			t.Fatalf("joined product %s", j.Product)
		}
	})
}

// jAnaSubject is a's subject (its joined.you), by joining again (same socket keeps its guest subject).
func jAnaSubject(t *testing.T, a *liveClient, r string) string {
	t.Helper()
	return a.join(map[string]any{"room": r, "name": "Ana"}).You.Subject
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// Tokens: a wrong-room or forged token cannot join; guests and tokens without the grant cannot
// bid or manage lots.
func TestLiveGrants(t *testing.T) {
	s := &liveServer{testServer: start(t, nil)}
	r := room("grants")
	c := s.dial(t, 0).reading()
	c.send(map[string]any{"type": "join", "room": r, "token": s.tokenFor(t, "other", "x", "", auth.GrantPublish)})
	c.wantError("unauthorized")
	c.send(map[string]any{"type": "join", "room": r, "token": "forged"})
	c.wantError("unauthorized")
	c.send(map[string]any{"type": "join", "room": "bad room!", "name": "x"})
	c.wantError("bad_request")
	c.send(map[string]any{"type": "join", "room": r})
	c.wantError("bad_request") // a guest needs a name
	c.send(map[string]any{"type": "join", "room": r, "name": "\x01"})
	c.wantError("bad_request")

	c.join(map[string]any{"room": r, "name": "Guest"})
	c.send(map[string]any{"type": "bid", "lot_id": "l1", "amount": 100, "ref": "g"})
	if m := c.wantError("unauthorized"); m.Ref != "g" || !strings.Contains(m.Message, "guest") {
		t.Errorf("guest bid: %+v", m)
	}
	c.send(map[string]any{"type": "lot_create", "lot": map[string]any{"title": "x", "start_price": 100, "duration_s": 30}})
	c.wantError("unauthorized")
	v := s.dial(t, 0).reading()
	j := v.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "viewer-1", "", auth.GrantSubscribe)})
	if j.You.Guest || j.You.Subject != "viewer-1" || j.You.Name != "viewer-1" {
		t.Fatalf("subscriber: %+v", j.You)
	}
	v.send(map[string]any{"type": "bid", "lot_id": "l1", "amount": 100})
	v.wantError("unauthorized")
	v.send(map[string]any{"type": "lot_start", "lot_id": "l1"})
	v.wantError("unauthorized")
	v.send(map[string]any{"type": "moderate", "action": "unpin"})
	v.wantError("unauthorized")
	// A token holder without the chat grant chats while guest chat is on.
	v.send(map[string]any{"type": "chat", "text": "hi", "ref": "v"})
	if m := v.reply(); m.Type != "ok" {
		t.Fatalf("subscriber chat: %+v", m)
	}
	v.send(map[string]any{"type": "react", "kind": "nope"})
	v.wantError("bad_request")
	// A refused join changes nothing: the socket is still in its room.
	v.send(map[string]any{"type": "join", "room": r, "token": "forged"})
	v.wantError("unauthorized")
	v.send(map[string]any{"type": "react", "kind": "heart"})
	v.send(map[string]any{"type": "chat", "text": "still in", "ref": "v2"})
	if m := v.reply(); m.Type != "ok" || m.Ref != "v2" {
		t.Fatalf("chat after a refused join: %+v", m)
	}
	v.send(map[string]any{"type": "leave"})
	if m := v.reply(); m.Type != "ok" {
		t.Fatalf("leave: %+v", m)
	}
	v.send(map[string]any{"type": "chat", "text": "gone"})
	v.wantError("not_joined")
}

// A socket that never reads is closed with 1008 "too slow"; the room goes on and a reading
// socket gets every event.
func TestLiveStalledSocket(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("stall")
		stalled := s.dial(t, 4096)
		if err := stalled.conn.WriteJSON(map[string]any{"type": "join", "room": r, "name": "Sleepy"}); err != nil {
			t.Fatal(err)
		}
		reader := s.dial(t, 0).reading()
		reader.join(map[string]any{"room": r, "name": "Awake"})
		time.Sleep(200 * time.Millisecond) // the stalled socket's join is handled
		const n = 3000
		pad := strings.Repeat("p", 8<<10)
		ctx := context.Background()
		done := make(chan error, 1)
		go func() {
			for i := range n {
				if _, err := s.Stream().Emit(ctx, r, "test", map[string]any{"i": i, "pad": pad}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for i := range n {
			m := reader.next("event")
			if m.Seq != int64(i+1) {
				t.Fatalf("reader got seq %d, want %d", m.Seq, i+1)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Now read the stalled socket: what it was sent, then the end. The server closes it with
		// 1008 "too slow"; the close frame gets through unless the socket's buffers were still
		// full a second later (then the connection is just closed: abnormal closure).
		_ = stalled.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		got := 0
		for {
			_, _, err := stalled.conn.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || (ce.Code != websocket.ClosePolicyViolation && ce.Code != websocket.CloseAbnormalClosure) ||
					(ce.Code == websocket.ClosePolicyViolation && ce.Text != "too slow") {
					t.Fatalf("stalled socket ended with %v after %d messages, want close 1008 too slow", err, got)
				}
				t.Logf("stalled socket: %d messages, then %v", got, err)
				break
			}
			got++
		}
		if got >= n {
			t.Fatalf("the stalled socket got all %d events", got)
		}
		res, err := http.Get(s.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if body, _ := io.ReadAll(res.Body); !strings.Contains(string(body), "relaycast_live_slow_closes_total 1\n") {
			t.Error("the slow close is not counted in /metrics")
		}
	})
}

// lotOf decodes a lot field.
func lotOf(t *testing.T, raw json.RawMessage) liveLot {
	t.Helper()
	var l liveLot
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("lot %s: %v", raw, err)
	}
	return l
}

type liveLot struct {
	ID        string  `json:"id"`
	Status    string  `json:"status"`
	Price     int64   `json:"price"`
	MinAmount int64   `json:"min_amount"`
	Leader    *string `json:"leader"`
	Winner    *string `json:"winner"`
	BidCount  int     `json:"bid_count"`
	EndsAt    int64   `json:"ends_at"`
}

// Lots and bids over the socket: the seller queues and starts a lot, bids are accepted or
// refused with their code and the next valid amount, everyone sees each accepted bid, a proxy
// maximum stays secret, the seller ends the lot and the winner is the leader's subject.
func TestLiveBids(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("bids")
		seller := s.dial(t, 0).reading()
		seller.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "seller-1", "", auth.GrantPublish)})
		watcher := s.dial(t, 0).reading()
		watcher.join(map[string]any{"room": r, "name": "Watcher"})
		b1 := s.dial(t, 0).reading()
		if j := b1.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "u-1", "  Ana  ", auth.GrantBid)}); j.You.Name != "Ana" || j.You.Subject != "u-1" || !slices.Equal(j.You.Grants, []string{"bid"}) {
			t.Fatalf("bidder joined as %+v", j.You)
		}
		b2 := s.dial(t, 0).reading()
		b2.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "u-2", "Bo", auth.GrantBid)})

		seller.send(map[string]any{"type": "lot_create", "ref": "c", "lot": map[string]any{"title": "Vase", "start_price": 1000, "duration_s": 60}})
		m := seller.reply()
		if m.Type != "lot_result" || m.Ref != "c" || lotOf(t, m.Lot).Status != "queued" {
			t.Fatalf("lot_create: %+v %s", m, m.Lot)
		}
		id := lotOf(t, m.Lot).ID
		if ev := watcher.event("lot"); lotOf(t, ev.Data).ID != id {
			t.Fatalf("lot event %s", ev.Data)
		}
		seller.send(map[string]any{"type": "lot_create", "lot": map[string]any{"title": "", "start_price": 1000, "duration_s": 60}})
		seller.wantError("bad_request")
		seller.send(map[string]any{"type": "lot_create", "lot": map[string]any{"title": "x", "start_price": 1000, "duration_s": 60, "colour": "red"}})
		seller.wantError("bad_request")

		b1.send(map[string]any{"type": "bid", "lot_id": id, "amount": 1000, "ref": "early"})
		if m := b1.reply(); m.Type != "bid_result" || m.Accepted || m.Code != "not_open" || m.Ref != "early" {
			t.Fatalf("bid on a queued lot: %+v", m)
		}
		seller.send(map[string]any{"type": "lot_start", "lot_id": id, "ref": "s"})
		m = seller.reply()
		if l := lotOf(t, m.Lot); m.Type != "lot_result" || l.Status != "open" || l.EndsAt == 0 {
			t.Fatalf("lot_start: %+v %s", m, m.Lot)
		}
		if j := s.dial(t, 0).reading().join(map[string]any{"room": r, "name": "Late"}); lotOf(t, j.Lot).ID != id {
			t.Fatalf("joined lot %s", j.Lot)
		}

		b1.send(map[string]any{"type": "bid", "lot_id": id, "amount": 1000, "ref": "b1"})
		m = b1.reply()
		if l := lotOf(t, m.Lot); m.Type != "bid_result" || !m.Accepted || m.Code != "" || l.Price != 1000 || *l.Leader != "u-1" || m.MinAmount != l.MinAmount || m.MinAmount <= 1000 {
			t.Fatalf("first bid: %+v %s", m, m.Lot)
		}
		next := m.MinAmount
		ev := watcher.event("bid")
		if !strings.Contains(string(ev.Data), `"amount":1000`) || !strings.Contains(string(ev.Data), `"name":"Ana"`) {
			t.Fatalf("bid event %s", ev.Data)
		}
		b2.send(map[string]any{"type": "bid", "lot_id": id, "amount": 1000, "ref": "low"})
		if m := b2.reply(); m.Accepted || m.Code != "too_low" || m.MinAmount != next || m.Ref != "low" {
			t.Fatalf("too low: %+v", m)
		}
		b1.send(map[string]any{"type": "bid", "lot_id": id, "amount": next})
		if m := b1.reply(); m.Accepted || m.Code != "already_leading" {
			t.Fatalf("leader bids again: %+v", m)
		}
		for _, bad := range []map[string]any{
			{"type": "bid", "lot_id": id},
			{"type": "bid", "lot_id": id, "amount": next, "max_amount": next + 500},
			{"type": "bid", "lot_id": id, "amount": -5},
			{"type": "bid", "lot_id": "", "amount": next},
		} {
			b2.send(bad)
			b2.wantError("bad_request")
		}
		b2.send(map[string]any{"type": "bid", "lot_id": "nosuchlot", "amount": next})
		b2.wantError("not_found")
		// A proxy bid: accepted at the next amount, its maximum never in an event.
		b2.send(map[string]any{"type": "bid", "lot_id": id, "max_amount": 5000, "ref": "max"})
		m = b2.reply()
		if l := lotOf(t, m.Lot); !m.Accepted || *l.Leader != "u-2" || l.Price != next {
			t.Fatalf("max bid: %+v %s", m, m.Lot)
		}
		ev = watcher.event("bid")
		if strings.Contains(string(ev.Data), "max_amount") {
			t.Fatalf("a bid event shows the proxy maximum: %s", ev.Data)
		}
		// b1 outbids: the engine answers for b2 (a proxy bid event follows b1's).
		b1.send(map[string]any{"type": "bid", "lot_id": id, "amount": 2000})
		if m := b1.reply(); !m.Accepted || *lotOf(t, m.Lot).Leader != "u-2" {
			t.Fatalf("outbid by a proxy: %+v %s", m, m.Lot)
		}
		seller.send(map[string]any{"type": "lot_cancel", "lot_id": id})
		seller.wantError("conflict")
		seller.send(map[string]any{"type": "lot_end", "lot_id": id, "ref": "e"})
		m = seller.reply()
		if l := lotOf(t, m.Lot); l.Status != "sold" || l.Winner == nil || *l.Winner != "u-2" {
			t.Fatalf("lot_end: %s", m.Lot)
		}
		for {
			if ev := watcher.event("lot"); lotOf(t, ev.Data).Status == "sold" {
				break
			}
		}
		b1.send(map[string]any{"type": "bid", "lot_id": id, "amount": 9000})
		if m := b1.reply(); m.Accepted || m.Code != "lot_closed" {
			t.Fatalf("bid after the end: %+v", m)
		}
	})
}

// A broadcast's start and end are room events (room.live, room.ended) for sockets without media.
func TestLiveRoomLiveEnded(t *testing.T) {
	s := &liveServer{testServer: start(t, func(c *config.Config) { c.Record = false })}
	r := room("onair")
	c := s.dial(t, 0).reading()
	c.join(map[string]any{"room": r, "name": "Fan"})
	pub, _, err := whipPublish(t, s.testServer, r, s.token(t, r, auth.GrantPublish))
	if err != nil {
		t.Fatal(err)
	}
	if ev := c.event("room.live"); string(ev.Data) != `{"room":"`+r+`"}` {
		t.Fatalf("room.live %s", ev.Data)
	}
	_ = pub.Close()
	if ev := c.event("room.ended"); string(ev.Data) != `{"room":"`+r+`"}` {
		t.Fatalf("room.ended %s", ev.Data)
	}
}

// Two nodes on one Redis are one room: what a socket on A says reaches a socket on B with the
// same seq, and B's bids reach A.
func TestLiveTwoNodes(t *testing.T) {
	url := testserver.RedisURL(t, 4)
	mk := func() *liveServer {
		return &liveServer{testServer: start(t, func(c *config.Config) { c.Record = false; c.RedisURL = url })}
	}
	a, b := mk(), mk()
	r := room("nodes")
	ca := a.dial(t, 0).reading()
	ca.join(map[string]any{"room": r, "token": a.tokenFor(t, r, "seller", "Sel", auth.GrantPublish)})
	wa := a.dial(t, 0).reading()
	wa.join(map[string]any{"room": r, "name": "Watcher"})
	cb := b.dial(t, 0).reading()
	cb.join(map[string]any{"room": r, "token": b.tokenFor(t, r, "u-b", "Bea", auth.GrantBid, auth.GrantChat)})
	ca.send(map[string]any{"type": "chat", "text": "from A"})
	if m := ca.reply(); m.Type != "ok" {
		t.Fatalf("chat on A: %+v", m)
	}
	ea := wa.event("chat") // (the sender's own event may come before its ok: reply skips events)
	eb := cb.event("chat")
	if ea.Seq != eb.Seq || !strings.Contains(string(eb.Data), "from A") {
		t.Fatalf("chat: A seq %d, B seq %d %s", ea.Seq, eb.Seq, eb.Data)
	}
	ca.send(map[string]any{"type": "lot_create", "lot": map[string]any{"title": "x", "start_price": 100, "duration_s": 30}})
	id := lotOf(t, ca.reply().Lot).ID
	ca.send(map[string]any{"type": "lot_start", "lot_id": id})
	ca.reply()
	cb.send(map[string]any{"type": "bid", "lot_id": id, "amount": 100})
	if m := cb.reply(); !m.Accepted {
		t.Fatalf("bid on B: %+v", m)
	}
	if ev := wa.event("bid"); !strings.Contains(string(ev.Data), `"name":"Bea"`) {
		t.Fatalf("A got %s", ev.Data)
	}
	// A guest key issued on A names the same guest on B (the key comes from the shared secret).
	ga := a.dial(t, 0).reading().join(map[string]any{"room": r, "name": "Gus"})
	if gb := b.dial(t, 0).reading().join(map[string]any{"room": r, "name": "Gus", "guest_key": ga.You.GuestKey}); gb.You.Subject != ga.You.Subject {
		t.Fatalf("guest on B %q, on A %q", gb.You.Subject, ga.You.Subject)
	}
}

// The live room's metrics: joined sockets, events sent, bids by result, slow closes.
func TestLiveMetrics(t *testing.T) {
	s := &liveServer{testServer: start(t, func(c *config.Config) { c.Record = false })}
	r := room("metrics")
	seller := s.dial(t, 0).reading()
	seller.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "seller", "", auth.GrantPublish)})
	b := s.dial(t, 0).reading()
	b.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "u-1", "", auth.GrantBid)})
	seller.send(map[string]any{"type": "lot_create", "lot": map[string]any{"title": "x", "start_price": 100, "duration_s": 30}})
	id := lotOf(t, seller.reply().Lot).ID
	seller.send(map[string]any{"type": "lot_start", "lot_id": id})
	seller.reply()
	b.send(map[string]any{"type": "bid", "lot_id": id, "amount": 100})
	b.reply()
	b.send(map[string]any{"type": "bid", "lot_id": id, "amount": 100})
	b.reply()
	seller.event("bid")
	res, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		"relaycast_live_sockets 2",
		`relaycast_live_bids_total{result="accepted"} 1`,
		`relaycast_live_bids_total{result="refused"} 1`,
		`relaycast_live_bids_total{result="rate_limited"} 0`,
		"relaycast_live_slow_closes_total 0",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(string(body), "relaycast_live_events_sent_total ") || strings.Contains(string(body), "relaycast_live_events_sent_total 0\n") {
		t.Error("no events sent counted")
	}
}

// TestLiveBanStopsBids: a bidder the seller bans bids no more (the ban is the room's, in Redis,
// so on every node), and the refusal says so; after an unban the auction answers their bids again.
func TestLiveBanStopsBids(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveServer) {
		r := room("ban")
		seller := s.dial(t, 0).reading()
		seller.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "seller-1", "", auth.GrantPublish)})
		b := s.dial(t, 0).reading()
		b.join(map[string]any{"room": r, "token": s.tokenFor(t, r, "u-ban", "Ban Me", auth.GrantBid)})
		seller.send(map[string]any{"type": "lot_create", "ref": "c", "lot": map[string]any{"title": "Vase", "start_price": 1000, "duration_s": 60}})
		id := lotOf(t, seller.reply().Lot).ID
		seller.send(map[string]any{"type": "lot_start", "lot_id": id, "ref": "s"})
		seller.reply()
		b.send(map[string]any{"type": "bid", "lot_id": id, "amount": 1000, "ref": "b1"})
		m := b.reply()
		if !m.Accepted {
			t.Fatalf("first bid: %+v", m)
		}
		seller.send(map[string]any{"type": "moderate", "action": "ban", "subject": "u-ban", "ref": "ban"})
		seller.reply()
		b.send(map[string]any{"type": "bid", "lot_id": id, "amount": m.MinAmount, "ref": "b2"})
		if m := b.wantError("banned"); m.Ref != "b2" {
			t.Fatalf("a banned bidder's bid: %+v", m)
		}
		seller.send(map[string]any{"type": "moderate", "action": "unban", "subject": "u-ban", "ref": "unban"})
		seller.reply()
		b.send(map[string]any{"type": "bid", "lot_id": id, "amount": m.MinAmount, "ref": "b3"})
		if m := b.reply(); m.Type != "bid_result" || m.Code != "already_leading" { // the auction answers again
			t.Fatalf("after the unban: %+v", m)
		}
	})
}
