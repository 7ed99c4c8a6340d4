package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Send checks text and the sender against the room's rules and, when they pass, makes the
// message a "chat" event of the room and stores it in the chat history, in one atomic script.
// A refusal returns an error wrapping one of the sentinels (Code gives its socket code) and
// changes neither the history nor the room's seq; only a flood of rate-limited messages has
// an effect: the sender's automatic time-out (a user.timeout event, by "system"), returned as
// ErrTimedOut.
func (s *Service) Send(ctx context.Context, room string, from Sender, text string) (Message, error) {
	if s.isClosed() {
		return Message{}, ErrClosed
	}
	if err := validRoom(room); err != nil {
		return Message{}, err
	}
	if err := validToken("subject", from.Subject, maxSubjectBytes); err != nil {
		return Message{}, err
	}
	name, err := ValidName(from.Name)
	if err != nil {
		return Message{}, err
	}
	role := from.Role
	switch role {
	case "", "seller", "moderator":
	default:
		return Message{}, fmt.Errorf("%w: role %q", ErrInvalid, role)
	}
	if role == "" && from.Moderator {
		role = "moderator"
	}
	if err := ValidText(text, s.p.MaxBytes); err != nil {
		return Message{}, err
	}
	mod := from.Moderator || role != ""
	subj := jstr(from.Subject)
	mid := `"subject":` + subj + `,"name":` + jstr(name) + `,"text":` + jstr(text)
	tail := ""
	if from.Guest {
		tail += `,"guest":true`
	}
	if role != "" {
		tail += `,"role":` + jstr(role)
	}
	keys := []string{
		s.key(room, "chat"), s.key(room, "chat:settings"), s.key(room, "chat:bans"), s.key(room, "chat:timeouts"),
		s.key(room, "chat:rate:"+from.Subject), s.key(room, "chat:flood:"+from.Subject),
	}
	res, err := s.scr.send.Run(ctx, s.rdb, keys,
		s.pfx, room, from.Subject, subj, mid, tail, flag(mod), flag(from.Guest), flag(HasLink(text)),
		s.p.Rate, s.p.Per.Milliseconds(), s.p.FloodTimeout.Milliseconds(), s.p.FloodAfter, s.p.Keep).Slice()
	if err != nil {
		return Message{}, fmt.Errorf("chat: send: %w", err)
	}
	code, _ := res[0].(string)
	if code != "ok" || len(res) < 3 {
		ms, _ := res[1].(int64)
		return Message{}, refusal(code, ms)
	}
	var m Message
	data, _ := res[2].(string)
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return Message{}, fmt.Errorf("chat: send: stored message: %w", err)
	}
	return m, nil
}

// refusal turns a script's refusal code into its error; ms is the server time it ends at, if any.
func refusal(code string, ms int64) error {
	switch code {
	case "banned":
		return ErrBanned
	case "timed_out":
		return fmt.Errorf("%w until %d", ErrTimedOut, ms)
	case "flood":
		return fmt.Errorf("%w until %d: too many messages", ErrTimedOut, ms)
	case "guests_off":
		return ErrGuestsOff
	case "links_off":
		return ErrLinks
	case "slow_mode":
		return fmt.Errorf("%w: next message at %d", ErrSlowMode, ms)
	case "rate_limited":
		return fmt.Errorf("%w: next message at %d", ErrRateLimited, ms)
	}
	return fmt.Errorf("chat: send: unexpected script answer %q", code)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// History returns chat messages of the room, oldest first: with after = 0 the last limit
// messages; with after > 0 those with id > after (at most limit, the oldest of them first, so a
// client resuming from its last seen id misses nothing and sees nothing twice). limit <= 0 means
// DefaultHistory; it is capped at Params.Keep, the length of the history.
func (s *Service) History(ctx context.Context, room string, after int64, limit int) ([]Message, error) {
	if err := validRoom(room); err != nil {
		return nil, err
	}
	if after < 0 {
		return nil, fmt.Errorf("%w: after %d", ErrInvalid, after)
	}
	if limit <= 0 {
		limit = DefaultHistory
	}
	if limit > s.p.Keep {
		limit = s.p.Keep
	}
	var vals []string
	var err error
	if after == 0 {
		vals, err = s.rdb.ZRange(ctx, s.key(room, "chat"), int64(-limit), -1).Result()
	} else {
		vals, err = s.rdb.ZRangeByScore(ctx, s.key(room, "chat"), &redis.ZRangeBy{
			Min: "(" + strconv.FormatInt(after, 10), Max: "+inf", Count: int64(limit),
		}).Result()
	}
	if err != nil {
		return nil, fmt.Errorf("chat: history: %w", err)
	}
	out := make([]Message, 0, len(vals))
	for _, v := range vals {
		var m Message
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			s.lg.Warn("bad chat history entry", "room", room, "err", err)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// Delete removes message id from the room's history and emits chat.deleted {id, by}, so screens
// showing it drop it. ErrNotFound when it is not in the history (never sent, deleted already, or
// older than the kept history).
func (s *Service) Delete(ctx context.Context, room string, id int64, by string) error {
	if err := validRoom(room); err != nil {
		return err
	}
	if id <= 0 {
		return fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	if err := validToken("by", by, maxByBytes); err != nil {
		return err
	}
	n, err := s.scr.del.Run(ctx, s.rdb, []string{s.key(room, "chat")}, s.pfx, room, id, jstr(by)).Int()
	if err != nil {
		return fmt.Errorf("chat: delete: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: message %d", ErrNotFound, id)
	}
	return nil
}
