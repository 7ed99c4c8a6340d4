package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/relaycast/relaycast/live/chat"
)

func TestSendIsAnEvent(t *testing.T) {
	backends(t, chat.Params{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		events, cancel := e.log.Subscribe("r1")
		defer cancel()
		m := mustSend(t, e, "r1", chat.Sender{Subject: "u1", Name: "  Ann  ", Role: "seller"}, "hello <b>world</b> & co")
		if m.Subject != "u1" || m.Name != "Ann" || m.Text != "hello <b>world</b> & co" || m.Role != "seller" || m.Guest || m.At == 0 {
			t.Fatalf("message %+v", m)
		}
		ev := <-events
		if ev.Kind != "chat" || ev.Seq != m.ID || ev.Room != "r1" {
			t.Fatalf("event %+v for message %+v", ev, m)
		}
		var got chat.Message
		if err := json.Unmarshal(ev.Data, &got); err != nil || got != m {
			t.Fatalf("event data %s (%v), want %+v", ev.Data, err, m)
		}
		if !strings.Contains(string(ev.Data), `"text":"hello <b>world</b> & co"`) {
			t.Fatalf("text not stored as given: %s", ev.Data)
		}
		g := mustSend(t, e, "r1", chat.Sender{Subject: "guest:x", Name: "Gus", Guest: true}, "hi")
		mo := mustSend(t, e, "r1", chat.Sender{Subject: "m", Name: "Mod", Moderator: true}, "hi")
		if !g.Guest || g.Role != "" || mo.Role != "moderator" || g.ID != m.ID+1 || mo.ID != m.ID+2 {
			t.Fatalf("guest %+v moderator %+v", g, mo)
		}
		h, err := e.svc.History(ctx, "r1", 0, 0)
		if err != nil || len(h) != 3 || h[0] != m || h[1] != g || h[2] != mo {
			t.Fatalf("history %+v, %v", h, err)
		}
		if h, _ := e.svc.History(ctx, "other", 0, 0); len(h) != 0 {
			t.Fatalf("other room has %v", h)
		}
	})
}

// Many goroutines on two nodes send at once: one total order, no message lost or stored twice,
// history ids strictly increasing, and the event stream carries the same messages in the same
// order.
func TestOrderUnderConcurrency(t *testing.T) {
	const senders, each = 16, 12
	backends(t, chat.Params{Rate: 1000}, func(t *testing.T, e *env) {
		events, cancel := e.log.Subscribe("conc")
		defer cancel()
		nodes := []*chat.Service{e.svc, e.node(t)}
		var wg sync.WaitGroup
		errs := make(chan error, senders*each)
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if _, err := nodes[(g+i)%2].Send(context.Background(), "conc", user(fmt.Sprint("s", g)), fmt.Sprintf("%d/%d", g, i)); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		h := e.history(t, "conc")
		if len(h) != senders*each {
			t.Fatalf("history has %d messages, want %d", len(h), senders*each)
		}
		seen := map[string]bool{}
		next := map[string]int{}
		for i, m := range h {
			if i > 0 && m.ID <= h[i-1].ID {
				t.Fatalf("ids not strictly increasing at %d: %d after %d", i, m.ID, h[i-1].ID)
			}
			if seen[m.Text] {
				t.Fatalf("duplicate %q", m.Text)
			}
			seen[m.Text] = true
			var g, n int
			fmt.Sscanf(m.Text, "%d/%d", &g, &n)
			if k := fmt.Sprint("s", g); m.Subject != k || next[k] != n {
				t.Fatalf("message %+v out of its sender's order (want %d)", m, next[k])
			} else {
				next[k]++
			}
		}
		if s := e.seq(t, "conc"); s != h[len(h)-1].ID {
			t.Fatalf("seq %d, last id %d", s, h[len(h)-1].ID)
		}
		for i := range h {
			ev := <-events
			if ev.Seq != h[i].ID || ev.Kind != "chat" {
				t.Fatalf("event %d: seq %d kind %s, want chat %d", i, ev.Seq, ev.Kind, h[i].ID)
			}
		}
	})
}

// Resuming from the last seen id yields every later message exactly once; after=0 is the tail.
func TestHistoryAfter(t *testing.T) {
	backends(t, chat.Params{Rate: 1000, Keep: 40}, func(t *testing.T, e *env) {
		ctx := context.Background()
		var sent []chat.Message
		for i := range 50 {
			sent = append(sent, mustSend(t, e, "h", user("a"), fmt.Sprint("m", i)))
			if i%10 == 0 { // other events between chat messages
				if _, err := e.log.Emit(ctx, "h", "lot", map[string]any{"n": i}); err != nil {
					t.Fatal(err)
				}
			}
		}
		tail, err := e.svc.History(ctx, "h", 0, 5)
		if err != nil || len(tail) != 5 || tail[0] != sent[45] || tail[4] != sent[49] {
			t.Fatalf("last 5: %+v %v", tail, err)
		}
		all := e.history(t, "h")
		if len(all) != 40 || all[0] != sent[10] {
			t.Fatalf("kept %d messages from %+v, want the last 40", len(all), all[0])
		}
		// A client saw up to sent[20]; it resumes in pages of 7.
		var got []chat.Message
		after := sent[20].ID
		for {
			page, err := e.svc.History(ctx, "h", after, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].ID
		}
		if len(got) != 29 {
			t.Fatalf("resumed %d messages, want 29", len(got))
		}
		for i, m := range got {
			if m != sent[21+i] {
				t.Fatalf("resume %d: %+v, want %+v", i, m, sent[21+i])
			}
		}
		if _, err := e.svc.History(ctx, "h", -1, 5); !errors.Is(err, chat.ErrInvalid) {
			t.Fatalf("after -1: %v", err)
		}
	})
}

func TestDelete(t *testing.T) {
	backends(t, chat.Params{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := mustSend(t, e, "d", user("a"), "one")
		b := mustSend(t, e, "d", user("b"), "two")
		c := mustSend(t, e, "d", user("c"), "three")
		if err := e.svc.Delete(ctx, "d", b.ID, "mod1"); err != nil {
			t.Fatal(err)
		}
		var del struct {
			ID int64  `json:"id"`
			By string `json:"by"`
		}
		e.lastEvent(t, "d", "chat.deleted", &del)
		if del.ID != b.ID || del.By != "mod1" {
			t.Fatalf("chat.deleted %+v", del)
		}
		if h := e.history(t, "d"); len(h) != 2 || h[0] != a || h[1] != c {
			t.Fatalf("history after delete %+v", h)
		}
		if h, _ := e.svc.History(ctx, "d", a.ID, 10); len(h) != 1 || h[0] != c {
			t.Fatalf("history after %d: %+v", a.ID, h)
		}
		seq := e.seq(t, "d")
		for _, id := range []int64{b.ID, 9999, 0, -3} {
			if err := e.svc.Delete(ctx, "d", id, "mod1"); !errors.Is(err, chat.ErrNotFound) {
				t.Fatalf("delete %d: %v, want ErrNotFound", id, err)
			}
		}
		if e.seq(t, "d") != seq {
			t.Fatal("refused deletes emitted events")
		}
	})
}

// Each bad message is refused with its code and changes nothing: no event, history unchanged.
func TestBadTextChangesNothing(t *testing.T) {
	backends(t, chat.Params{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		first := mustSend(t, e, "bad", user("ok"), "<img src=x onerror=alert(1)> & <b>bold</b>")
		if first.Text != "<img src=x onerror=alert(1)> & <b>bold</b>" {
			t.Fatalf("HTML not kept as text: %q", first.Text)
		}
		cases := []struct {
			name string
			from chat.Sender
			text string
			want error
			code string
		}{
			{"10 kB", user("u"), strings.Repeat("x", 10240), chat.ErrTooLong, "too_long"},
			{"2049 bytes", user("u"), strings.Repeat("y", 2049), chat.ErrTooLong, "too_long"},
			{"NUL", user("u"), "hi\x00", chat.ErrBadText, "bad_request"},
			{"newline", user("u"), "line1\nline2", chat.ErrBadText, "bad_request"},
			{"ANSI escape", user("u"), "\x1b[2J", chat.ErrBadText, "bad_request"},
			{"C1", user("u"), "x\u0090y", chat.ErrBadText, "bad_request"},
			{"invalid UTF-8", user("u"), "\xc3\x28", chat.ErrBadText, "bad_request"},
			{"bidi override", user("u"), "gnp.\u202eexe", chat.ErrBadText, "bad_request"},
			{"bidi isolate", user("u"), "\u2067abc", chat.ErrBadText, "bad_request"},
			{"empty", user("u"), "", chat.ErrEmpty, "bad_request"},
			{"white space", user("u"), " \u3000 ", chat.ErrEmpty, "bad_request"},
			{"bad name", chat.Sender{Subject: "u", Name: "a\x07"}, "hi", chat.ErrBadName, "bad_request"},
			{"no name", chat.Sender{Subject: "u", Name: "  "}, "hi", chat.ErrBadName, "bad_request"},
			{"long name", chat.Sender{Subject: "u", Name: strings.Repeat("n", 33)}, "hi", chat.ErrBadName, "bad_request"},
			{"no subject", chat.Sender{Name: "x"}, "hi", chat.ErrInvalid, "bad_request"},
			{"bad role", chat.Sender{Subject: "u", Name: "x", Role: "admin"}, "hi", chat.ErrInvalid, "bad_request"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				seq := e.seq(t, "bad")
				_, err := e.svc.Send(ctx, "bad", c.from, c.text)
				if !errors.Is(err, c.want) || chat.Code(err) != c.code {
					t.Fatalf("Send = %v (%s), want %v (%s)", err, chat.Code(err), c.want, c.code)
				}
				if e.seq(t, "bad") != seq {
					t.Fatal("a refused message moved the seq")
				}
				if h := e.history(t, "bad"); len(h) != 1 || h[0] != first {
					t.Fatalf("history changed: %+v", h)
				}
			})
		}
		for _, room := range []string{"", "a b", "../x", strings.Repeat("r", 65), "-x"} {
			if _, err := e.svc.Send(ctx, room, user("u"), "hi"); !errors.Is(err, chat.ErrInvalid) {
				t.Fatalf("room %q: %v", room, err)
			}
		}
	})
}
