package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Local keeps objects as files under a directory. Writes go to a temporary file that is renamed
// into place, so a reader never sees half a file and a crash leaves no partial object.
type Local struct {
	dir     string
	baseURL string
}

// LocalParams configures a Local store.
type LocalParams struct {
	Dir string
	// BaseURL prefixes keys in URL (default "/vod/").
	BaseURL string
}

// NewLocal creates the directory if needed.
func NewLocal(p LocalParams) (*Local, error) {
	if p.Dir == "" {
		return nil, fmt.Errorf("storage: local: empty directory")
	}
	if p.BaseURL == "" {
		p.BaseURL = "/vod/"
	}
	if !strings.HasSuffix(p.BaseURL, "/") {
		p.BaseURL += "/"
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: local: %w", err)
	}
	return &Local{dir: p.Dir, baseURL: p.BaseURL}, nil
}

func (l *Local) path(key string) string { return filepath.Join(l.dir, filepath.FromSlash(key)) }

// Put implements Storage.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, _ int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dst := l.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	_, err = io.Copy(tmp, ctxReader{ctx, r})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	return nil
}

// link is os.Link (a seam: tests make it fail to check the copy).
var link = os.Link

// PutFile implements FilePutter: the file at path becomes the object under key by a hard link,
// so its bytes are neither read nor written again (the recorder's closed chunks, archive/). The
// link is made under a temporary name and renamed into place, as Put does. When no link can be
// made (another filesystem, a filesystem without links) the file is copied as by Put. The
// object shares the file's inode from then on: the caller must not change the file in place
// afterwards (remove it, or replace it by a new file, instead).
func (l *Local) PutFile(ctx context.Context, key, path string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dst := l.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(dst), ".tmp-link-"+hex.EncodeToString(rnd[:]))
	if err := link(path, tmp); err == nil {
		if err := os.Rename(tmp, dst); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("storage: put %s: %w", key, err)
		}
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	defer f.Close()
	return l.Put(ctx, key, f, -1)
}

// Get implements Storage.
func (l *Local) Get(_ context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(l.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return f, err
}

// DeletePrefix implements Storage. A prefix ending in "/" removes that directory.
func (l *Local) DeletePrefix(_ context.Context, prefix string) error {
	if err := checkKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return err
	}
	if strings.HasSuffix(prefix, "/") {
		return os.RemoveAll(l.path(prefix))
	}
	dir, base := path.Split(prefix)
	ents, err := os.ReadDir(l.path(dir + "."))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), base) {
			if err := os.RemoveAll(filepath.Join(l.path(dir+"."), e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// URL implements Storage.
func (l *Local) URL(key string) string { return l.baseURL + key }

// Handler serves the directory (mount it under BaseURL with http.StripPrefix), with the
// Content-Type and Cache-Control of each file type and CORS for players on other origins.
func (l *Local) Handler() http.Handler {
	fsrv := http.FileServer(http.Dir(l.dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/")
		if checkKey(key) != nil || strings.HasSuffix(key, "/") || strings.Contains(key, "/.tmp-") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ContentType(key))
		w.Header().Set("Cache-Control", CacheControl(key))
		w.Header().Set("Access-Control-Allow-Origin", "*")
		fsrv.ServeHTTP(w, r)
	})
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
