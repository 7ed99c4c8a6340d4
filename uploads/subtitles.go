package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
)

// Subtitles: PUT /api/recordings/{id}/subtitles/{lang}?label=English with a WebVTT body stores
// rec/ID/subs/LANG.vtt and lists it in the recording's "subtitles"; DELETE removes it. The
// publisher of the recording's room or an admin may do both.

// maxSubtitleBytes caps one WebVTT file.
const maxSubtitleBytes = 2 << 20

// langRE accepts BCP 47-like tags: "en", "pt-BR", "zh-Hant".
var langRE = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$`)

func subtitleKey(id, lang string) string { return "rec/" + id + "/subs/" + lang + ".vtt" }

// subtitleTarget reads the recording of the request and checks the token and the language.
func (a *archive) subtitleTarget(w http.ResponseWriter, r *http.Request) (catalog.Recording, string, bool) {
	rec, err := a.cat.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "no such recording")
		return rec, "", false
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return rec, "", false
	}
	if !a.authorize(w, r, rec.Room, auth.GrantPublish) {
		return rec, "", false
	}
	lang := r.PathValue("lang")
	if !langRE.MatchString(lang) {
		writeErr(w, http.StatusBadRequest, "language: use a tag like en, de or pt-BR")
		return rec, "", false
	}
	return rec, lang, true
}

func (a *archive) handlePutSubtitles(w http.ResponseWriter, r *http.Request) {
	rec, lang, ok := a.subtitleTarget(w, r)
	if !ok {
		return
	}
	label := strings.TrimSpace(r.URL.Query().Get("label"))
	if label == "" {
		label = lang
	}
	if len(label) > 64 {
		writeErr(w, http.StatusBadRequest, "label must be at most 64 bytes")
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSubtitleBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeErr(w, http.StatusRequestEntityTooLarge, "subtitles may be at most 2 MiB")
		return
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if rest, ok := bytes.CutPrefix(b, []byte("WEBVTT")); !ok || (len(rest) > 0 && !strings.ContainsRune(" \t\r\n", rune(rest[0]))) || !utf8.Valid(b) {
		writeErr(w, http.StatusBadRequest, "the body must be a WebVTT file (UTF-8, starting with WEBVTT)")
		return
	}
	key := subtitleKey(rec.ID, lang)
	if err := a.store.Put(r.Context(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		writeErr(w, http.StatusBadGateway, "storage: "+err.Error())
		return
	}
	sub := catalog.Subtitle{Lang: lang, Label: label, URL: a.store.URL(key)}
	rec, err = a.cat.Update(r.Context(), rec.ID, func(rec *catalog.Recording) error {
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
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.publish("recording", rec.ID, rec)
	writeJSON(w, http.StatusCreated, rec)
}

func (a *archive) handleDeleteSubtitles(w http.ResponseWriter, r *http.Request) {
	rec, lang, ok := a.subtitleTarget(w, r)
	if !ok {
		return
	}
	errNone := errors.New("none")
	rec, err := a.cat.Update(r.Context(), rec.ID, func(rec *catalog.Recording) error {
		for i := range rec.Subtitles {
			if rec.Subtitles[i].Lang == lang {
				rec.Subtitles = append(rec.Subtitles[:i], rec.Subtitles[i+1:]...)
				return nil
			}
		}
		return errNone
	})
	if errors.Is(err, errNone) {
		writeErr(w, http.StatusNotFound, "the recording has no subtitles in "+lang)
		return
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := a.store.DeletePrefix(r.Context(), subtitleKey(rec.ID, lang)); err != nil {
		a.log.Warn("cannot delete subtitles from storage", "recording", rec.ID, "lang", lang, "err", err)
	}
	a.publish("recording", rec.ID, rec)
	w.WriteHeader(http.StatusNoContent)
}
