package chat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeout refuses subject's messages in room for d (1 s .. 7 days), from now by Redis TIME, and
// emits user.timeout {subject, until, by}. A new time-out replaces the previous one.
func (s *Service) Timeout(ctx context.Context, room, subject string, d time.Duration, by string) error {
	if err := s.checkMod(room, subject, by); err != nil {
		return err
	}
	ms := d.Milliseconds()
	if ms < 1000 || ms > maxTimeout {
		return fmt.Errorf("%w: time-out of %s (1s..168h)", ErrInvalid, d)
	}
	if err := s.scr.timeout.Run(ctx, s.rdb, []string{s.key(room, "chat:timeouts")},
		s.pfx, room, subject, jstr(subject), ms, jstr(by)).Err(); err != nil {
		return fmt.Errorf("chat: timeout: %w", err)
	}
	return nil
}

// Ban refuses subject's messages in room until Unban, and emits user.ban {subject, by}. Banning a
// banned subject changes nothing and emits nothing.
func (s *Service) Ban(ctx context.Context, room, subject, by string) error {
	if err := s.checkMod(room, subject, by); err != nil {
		return err
	}
	if err := s.scr.ban.Run(ctx, s.rdb, []string{s.key(room, "chat:bans")},
		s.pfx, room, subject, jstr(subject), jstr(by)).Err(); err != nil {
		return fmt.Errorf("chat: ban: %w", err)
	}
	return nil
}

// Unban lifts subject's ban and any time-out in room, and emits user.unban {subject, by}; when
// there was neither it changes nothing and emits nothing.
func (s *Service) Unban(ctx context.Context, room, subject, by string) error {
	if err := s.checkMod(room, subject, by); err != nil {
		return err
	}
	if err := s.scr.unban.Run(ctx, s.rdb, []string{s.key(room, "chat:bans"), s.key(room, "chat:timeouts")},
		s.pfx, room, subject, jstr(subject), jstr(by)).Err(); err != nil {
		return fmt.Errorf("chat: unban: %w", err)
	}
	return nil
}

// Restriction tells whether subject is banned in room, and until when (server ms) it is timed
// out (0: not timed out). For the room layer's join answer; Send checks the same by itself.
func (s *Service) Restriction(ctx context.Context, room, subject string) (banned bool, until int64, err error) {
	if err := validRoom(room); err != nil {
		return false, 0, err
	}
	pipe := s.rdb.Pipeline()
	b := pipe.HExists(ctx, s.key(room, "chat:bans"), subject)
	t := pipe.HGet(ctx, s.key(room, "chat:timeouts"), subject)
	now := pipe.Time(ctx)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, 0, fmt.Errorf("chat: restriction: %w", err)
	}
	if v, err := strconv.ParseInt(t.Val(), 10, 64); err == nil && v > now.Val().UnixMilli() {
		until = v
	}
	return b.Val(), until, nil
}

func (s *Service) checkMod(room, subject, by string) error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := validRoom(room); err != nil {
		return err
	}
	if err := validToken("subject", subject, maxSubjectBytes); err != nil {
		return err
	}
	return validToken("by", by, maxByBytes)
}

// Settings returns the room's chat settings (DefaultSettings until SetSettings).
func (s *Service) Settings(ctx context.Context, room string) (Settings, error) {
	if err := validRoom(room); err != nil {
		return Settings{}, err
	}
	v, err := s.rdb.HMGet(ctx, s.key(room, "chat:settings"), "slow_mode_s", "links", "guest_chat").Result()
	if err != nil {
		return Settings{}, fmt.Errorf("chat: settings: %w", err)
	}
	st := DefaultSettings()
	if x, ok := v[0].(string); ok {
		st.SlowModeS, _ = strconv.Atoi(x)
	}
	if x, ok := v[1].(string); ok {
		st.Links = x != "0"
	}
	if x, ok := v[2].(string); ok {
		st.GuestChat = x != "0"
	}
	return st, nil
}

// SetSettings replaces the room's chat settings and emits room.settings with them. SlowModeS
// must be 0..600 (ErrInvalid otherwise, nothing changes).
func (s *Service) SetSettings(ctx context.Context, room string, st Settings, by string) (Settings, error) {
	if s.isClosed() {
		return Settings{}, ErrClosed
	}
	if err := validRoom(room); err != nil {
		return Settings{}, err
	}
	if err := validToken("by", by, maxByBytes); err != nil {
		return Settings{}, err
	}
	if st.SlowModeS < 0 || st.SlowModeS > maxSlowModeS {
		return Settings{}, fmt.Errorf("%w: slow_mode_s %d (0..%d)", ErrInvalid, st.SlowModeS, maxSlowModeS)
	}
	data, err := jval(st)
	if err != nil {
		return Settings{}, err
	}
	if err := s.scr.settings.Run(ctx, s.rdb, []string{s.key(room, "chat:settings")},
		s.pfx, room, st.SlowModeS, flag(st.Links), flag(st.GuestChat), data).Err(); err != nil {
		return Settings{}, fmt.Errorf("chat: settings: %w", err)
	}
	s.lg.Info("room settings", "room", room, "by", by, "slow_mode_s", st.SlowModeS, "links", st.Links, "guest_chat", st.GuestChat)
	return st, nil
}
