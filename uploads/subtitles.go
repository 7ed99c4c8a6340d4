package uploads

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/relaycast/relaycast/catalog"
)

// Subtitles: PUT /api/recordings/{id}/subtitles/{lang}?label=English with a WebVTT body stores
// rec/ID/subs/LANG.vtt and lists it in the recording's "subtitles"; DELETE removes it. The
// publisher of the recording's room or an admin may do both.

// MaxSubtitleBytes caps one WebVTT file.
const MaxSubtitleBytes = 2 << 20

// langRE accepts BCP 47-like tags: "en", "pt-BR", "zh-Hant".
var langRE = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$`)

func subtitleKey(id, lang string) string { return "rec/" + id + "/subs/" + lang + ".vtt" }

// checkLang fails with ErrInvalid unless lang is a language tag.
func checkLang(lang string) error {
	if !langRE.MatchString(lang) {
		return fail(ErrInvalid, "language: use a tag like en, de or pt-BR")
	}
	return nil
}

// PutSubtitles stores the WebVTT body (at most MaxSubtitleBytes: wrap it in an
// http.MaxBytesReader of that size to get ErrTooBig) as rec's subtitles in lang, labelled label
// (default: lang), and returns the updated recording.
func (s *Service) PutSubtitles(ctx context.Context, rec catalog.Recording, lang, label string, body io.Reader) (catalog.Recording, error) {
	if err := checkLang(lang); err != nil {
		return rec, err
	}
	label = strings.TrimSpace(label)
	if label == "" {
		label = lang
	}
	if len(label) > 64 {
		return rec, fail(ErrInvalid, "label must be at most 64 bytes")
	}
	b, err := io.ReadAll(io.LimitReader(body, MaxSubtitleBytes+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || len(b) > MaxSubtitleBytes {
		return rec, fail(ErrTooBig, "subtitles may be at most 2 MiB")
	}
	if err != nil {
		return rec, fail(ErrInvalid, "reading the body: %v", err)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if rest, ok := bytes.CutPrefix(b, []byte("WEBVTT")); !ok || (len(rest) > 0 && !strings.ContainsRune(" \t\r\n", rune(rest[0]))) || !utf8.Valid(b) {
		return rec, fail(ErrInvalid, "the body must be a WebVTT file (UTF-8, starting with WEBVTT)")
	}
	key := subtitleKey(rec.ID, lang)
	if err := s.store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return rec, fail(ErrStorage, "storage: %v", err)
	}
	sub := catalog.Subtitle{Lang: lang, Label: label, URL: s.store.URL(key)}
	rec, err = s.cat.Update(ctx, rec.ID, func(rec *catalog.Recording) error {
		for i := range rec.Subtitles {
			if rec.Subtitles[i].Lang == lang {
				rec.Subtitles[i] = sub
				return nil
			}
		}
		rec.Subtitles = append(rec.Subtitles, sub)
		return nil
	})
	if err != nil {
		return rec, err
	}
	s.pipe.Publish("recording", rec.ID, rec)
	return rec, nil
}

// DeleteSubtitles removes rec's subtitles in lang (ErrNotFound when it has none).
func (s *Service) DeleteSubtitles(ctx context.Context, rec catalog.Recording, lang string) error {
	if err := checkLang(lang); err != nil {
		return err
	}
	errNone := errors.New("none")
	rec, err := s.cat.Update(ctx, rec.ID, func(rec *catalog.Recording) error {
		for i := range rec.Subtitles {
			if rec.Subtitles[i].Lang == lang {
				rec.Subtitles = append(rec.Subtitles[:i], rec.Subtitles[i+1:]...)
				return nil
			}
		}
		return errNone
	})
	if errors.Is(err, errNone) {
		return fail(ErrNotFound, "the recording has no subtitles in %s", lang)
	}
	if err != nil {
		return err
	}
	if err := s.store.DeletePrefix(ctx, subtitleKey(rec.ID, lang)); err != nil {
		s.log.Warn("cannot delete subtitles from storage", "recording", rec.ID, "lang", lang, "err", err)
	}
	s.pipe.Publish("recording", rec.ID, rec)
	return nil
}
