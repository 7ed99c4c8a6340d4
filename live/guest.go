package live

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/live/chat"
)

// Guests have no account. Two things keep a moderator's time-out or ban of a guest from being
// undone by a reload (docs/LIVE.md, "Guests"):
//
//   - the guest key: joined.you.guest_key is "<id>.<signature>", the guest's random id signed
//     with HMAC-SHA256 under a key derived from the auth secret (GuestKeyPurpose). The page keeps
//     it per browser and sends it back in join.guest_key; a valid key is the same subject
//     "guest:<id>" again, anything else is ignored (a new guest).
//   - the guest's address: a time-out or ban of a guest subject also restricts the address the
//     guest last joined from, for the time-out's duration (a ban: until unban, at most
//     Params.GuestIPBan), and only for guests there, never for token holders.

// GuestKeyPurpose derives the guest keys' HMAC key from the auth secret (auth.Signer.DeriveKey).
const GuestKeyPurpose = "relaycast live guest key v1"

const (
	guestIDBytes  = 8  // the random id: 16 hex characters, as the per-socket subjects were
	guestSigBytes = 16 // the signature: 128 bits of HMAC-SHA256, 22 base64url characters
	maxGuestKey   = 64
	guestPrefix   = "guest:"
	// guestIPMemory is how long a guest's last address is kept (refreshed on every join).
	guestIPMemory = 24 * time.Hour
	// DefaultGuestIPBan bounds how long a guest's ban holds for their address.
	DefaultGuestIPBan = 24 * time.Hour
)

// Restriction kinds of an address.
const (
	ipTimeout = "timeout"
	ipBan     = "ban"
)

// guestKeys signs and checks guest keys.
type guestKeys struct{ key []byte }

func newGuestKeys(key []byte) guestKeys {
	if len(key) == 0 { // no auth secret given: keys hold for this process only
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return guestKeys{key: key}
}

func (g guestKeys) sign(id string) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(guestPrefix + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:guestSigBytes])
}

// issue is the guest key of subject ("guest:<id>"); "" for any other subject.
func (g guestKeys) issue(subject string) string {
	id, ok := strings.CutPrefix(subject, guestPrefix)
	if !ok || !validGuestID(id) {
		return ""
	}
	return id + "." + g.sign(id)
}

// subject is the guest subject a key names, or false for a key that is not one of ours.
func (g guestKeys) subject(key string) (string, bool) {
	if key == "" || len(key) > maxGuestKey {
		return "", false
	}
	id, sig, ok := strings.Cut(key, ".")
	if !ok || !validGuestID(id) || !hmac.Equal([]byte(sig), []byte(g.sign(id))) {
		return "", false
	}
	return guestPrefix + id, true
}

func validGuestID(id string) bool {
	if len(id) != 2*guestIDBytes {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// The guests' addresses in Redis: KEYS guest:ip:<subject> (STRING, the address, PX 24 h) and
// guest:ipblock (HASH address -> "<kind> <until ms> <subject>", the key expiring with its
// longest restriction). Times by Redis TIME.
const luaNow = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// luaIPRestrict: KEYS subject's address, block hash. ARGV kind, ms, subject. Restricts the
// subject's last address until now+ms (a longer restriction already there is kept). Returns
// the address, or false when the subject has none (not a guest who joined here).
var luaIPRestrict = redis.NewScript(luaNow + `
local ip = redis.call('GET', KEYS[1])
if not ip then return false end
local ms = tonumber(ARGV[2])
local untl = now + ms
local cur = redis.call('HGET', KEYS[2], ip)
if cur then
  local k, u = string.match(cur, '^(%S+) (%d+) ')
  if u and tonumber(u) > untl then return ip end
end
redis.call('HSET', KEYS[2], ip, ARGV[1] .. ' ' .. untl .. ' ' .. ARGV[3])
if redis.call('PTTL', KEYS[2]) < ms then redis.call('PEXPIRE', KEYS[2], ms) end
return ip
`)

// luaIPCheck: KEYS block hash. ARGV address. Returns {kind, until} while it is restricted, else
// false (an expired entry is removed).
var luaIPCheck = redis.NewScript(luaNow + `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return false end
local k, u = string.match(cur, '^(%S+) (%d+) ')
if not u or tonumber(u) <= now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return false
end
return {k, u}
`)

// luaIPLift: KEYS subject's address, block hash. ARGV subject. Lifts the restriction of the
// subject's address when this subject caused it.
var luaIPLift = redis.NewScript(`
local ip = redis.call('GET', KEYS[1])
if not ip then return 0 end
local cur = redis.call('HGET', KEYS[2], ip)
if cur and string.sub(cur, -(#ARGV[1] + 1)) == ' ' .. ARGV[1] then
  return redis.call('HDEL', KEYS[2], ip)
end
return 0
`)

func (s *Service) guestIPKey(room, subject string) string {
	return s.p.Log.Key(room, "guest:ip:"+subject)
}

func (s *Service) guestBlockKey(room string) string { return s.p.Log.Key(room, "guest:ipblock") }

// noteGuestIP remembers the address a guest joined room from.
func (s *Service) noteGuestIP(ctx context.Context, room string, id Identity) error {
	if !id.Guest || id.IP == "" {
		return nil
	}
	if err := s.p.Redis.Set(ctx, s.guestIPKey(room, id.Subject), id.IP, guestIPMemory).Err(); err != nil {
		return fmt.Errorf("live: guest address: %w", err)
	}
	return nil
}

// restrictGuestIP extends a guest subject's time-out (d) or ban (d = 0) to their address.
func (s *Service) restrictGuestIP(ctx context.Context, room, subject, kind string, d time.Duration) {
	if !strings.HasPrefix(subject, guestPrefix) {
		return
	}
	if kind == ipBan {
		d = s.p.GuestIPBan
	}
	if d <= 0 {
		return
	}
	ip, err := luaIPRestrict.Run(ctx, s.p.Redis, []string{s.guestIPKey(room, subject), s.guestBlockKey(room)},
		kind, d.Milliseconds(), subject).Text()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		s.log.Warn("guest address not restricted", "room", room, "subject", subject, "err", err)
	default:
		s.log.Info("guest address restricted", "room", room, "subject", subject, "kind", kind, "for", d, "ip", ip)
	}
}

// liftGuestIP lifts the restriction a guest subject's time-out or ban put on their address.
func (s *Service) liftGuestIP(ctx context.Context, room, subject string) {
	if !strings.HasPrefix(subject, guestPrefix) {
		return
	}
	if err := luaIPLift.Run(ctx, s.p.Redis, []string{s.guestIPKey(room, subject), s.guestBlockKey(room)}, subject).Err(); err != nil {
		s.log.Warn("guest address not lifted", "room", room, "subject", subject, "err", err)
	}
}

// checkGuestIP refuses a guest's chat while their address is timed out or banned in room.
func (s *Service) checkGuestIP(ctx context.Context, room string, id Identity) error {
	if !id.Guest || id.IP == "" {
		return nil
	}
	res, err := luaIPCheck.Run(ctx, s.p.Redis, []string{s.guestBlockKey(room)}, id.IP).StringSlice()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("live: guest address: %w", err)
	}
	if len(res) == 2 && res[0] == ipBan {
		return fmt.Errorf("%w: a guest from your network is banned in this room", chat.ErrBanned)
	}
	until, _ := strconv.ParseInt(res[len(res)-1], 10, 64)
	return fmt.Errorf("%w: a guest from your network is timed out in this room until %d", chat.ErrTimedOut, until)
}
