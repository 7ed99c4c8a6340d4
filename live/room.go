package live

import "regexp"

// roomRe is signaling's room-name rule (live does not import signaling).
var roomRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidRoom reports whether name is an acceptable room name.
func ValidRoom(name string) bool { return roomRe.MatchString(name) }
