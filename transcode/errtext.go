package transcode

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hibiken/asynq"
)

// MaxLog is the largest operator log kept with a recording (CleanLog's bound).
const MaxLog = 4 << 10

// Human reasons, one sentence each: what a viewer or seller reads on a recording.
const (
	MsgNothingDecodes = "Nothing in this recording could be decoded."
	MsgNotVideo       = "This file is not a video that can be played (or it is cut short)."
	MsgSourceMissing  = "The recorded files are missing from storage; a retry uploads them again if the server still has them."
	MsgBadJob         = "The processing job is invalid."
	MsgStorage        = "The recording could not be stored; it can be retried."
	MsgConverter      = "The video converter failed; it can be retried."
	MsgFailed         = "Processing failed; it can be retried."
	MsgAudioDropped   = "The audio track could not be decoded and was dropped."
	MsgVideoDropped   = "The video track could not be decoded and was dropped; the recording is audio only."
)

// Describe turns a job's error into a recording's short human reason, the operator log (the
// error's text, cleaned) and whether a retry could help (false for permanent failures, those
// marked asynq.SkipRetry).
func Describe(err error) (msg, log string, retryable bool) {
	log = CleanLog(err.Error())
	switch {
	case errors.Is(err, ErrNotVideo):
		return MsgNotVideo, log, false
	case errors.Is(err, ErrBadMedia):
		return MsgNothingDecodes, log, false
	case errors.Is(err, ErrSourceMissing):
		// The job cannot run again as it is, but a retry of the recording uploads the raw files
		// again from the recorder's disk while they are there.
		return MsgSourceMissing, log, true
	case errors.Is(err, ErrBadPayload):
		return MsgBadJob, log, false
	case errors.Is(err, ErrStorage):
		return MsgStorage, log, !errors.Is(err, asynq.SkipRetry)
	case errors.Is(err, ErrFFmpeg):
		return MsgConverter, log, !errors.Is(err, asynq.SkipRetry)
	}
	if errors.Is(err, asynq.SkipRetry) {
		return "Processing failed.", log, false
	}
	return MsgFailed, log, true
}

var (
	// "[opus @ 0x55ca4be8c740] " → "[opus] "; any other address → "0x…".
	reAt      = regexp.MustCompile(`\s@\s0x[0-9a-fA-F]+`)
	reAddr    = regexp.MustCompile(`0x[0-9a-fA-F]{6,}`)
	reRepeat  = regexp.MustCompile(`^Last message repeated (\d+) times?$`)
	reCount   = regexp.MustCompile(`^(.*\S) ×(\d+)$`)
	reTag     = regexp.MustCompile(`\s+(\[[A-Za-z0-9_]+\]\s)`)
	skipRetry = ": " + asynq.SkipRetry.Error()
)

// CleanLog makes tool output fit for a recording's log: the queue's internal wording and memory
// addresses removed, repeated lines collapsed into one with a count ("… ×50", first occurrence
// order), at most MaxLog bytes, cut only between lines (or between words of one long line).
func CleanLog(s string) string {
	s = strings.ReplaceAll(s, skipRetry, "")
	s = strings.ReplaceAll(s, asynq.SkipRetry.Error(), "")
	s = reAt.ReplaceAllString(s, "")
	s = reAddr.ReplaceAllString(s, "0x…")
	// ffmpeg errors are often one long line: "…: exit status 69: [opus] Error… [opus] Error…".
	s = strings.ReplaceAll(s, "\r", "\n")
	s = reTag.ReplaceAllString(s, "\n$1")
	var order []string
	count := map[string]int{}
	last := ""
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if m := reRepeat.FindStringSubmatch(line); m != nil && last != "" {
			var n int
			_, _ = fmt.Sscan(m[1], &n)
			count[last] += n
			continue
		}
		n := 1
		if m := reCount.FindStringSubmatch(line); m != nil { // already cleaned once
			line = m[1]
			_, _ = fmt.Sscan(m[2], &n)
		}
		if count[line] == 0 {
			order = append(order, line)
		}
		count[line] += n
		last = line
	}
	const note = 32 // room for "… N more lines"
	var b strings.Builder
	for i, line := range order {
		if n := count[line]; n > 1 {
			line = fmt.Sprintf("%s ×%d", line, n)
		}
		if b.Len()+1+len(line) > MaxLog-note {
			if b.Len() == 0 { // one huge line: cut between words
				b.WriteString(cutWords(line, MaxLog-note) + " …")
				i++
			}
			if rest := len(order) - i; rest > 0 {
				fmt.Fprintf(&b, "\n… %d more lines", rest)
			}
			break
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	return b.String()
}

// cutWords cuts s to at most n bytes at a space.
func cutWords(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, " ")
}
