// Package storage keeps archived files (HLS playlists, segments, posters, raw chunks) in a local
// directory or an S3 bucket behind one small interface. Keys are slash-separated relative paths
// ("rec/ID/720p/c000001_000.ts"); writes are idempotent (same key, same bytes → same result).
package storage

import (
	"context"
	"io"
	"mime"
	"path"
	"strings"
)

// Storage is the object store the archive writes to.
type Storage interface {
	// Put stores the whole of r under key, replacing any previous object. size may be -1.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens key for reading; ErrNotFound when it does not exist.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// DeletePrefix removes every object whose key starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// URL is where a player fetches key (absolute or rooted at the server, e.g. "/vod/KEY").
	URL(key string) string
}

// FilePutter is a Storage that can store a local file as an object without copying its bytes
// (Local: a hard link). The caller must not change the file in place afterwards.
type FilePutter interface {
	PutFile(ctx context.Context, key, path string) error
}

// ContentType is the MIME type stored with a key, from its extension.
func ContentType(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".ts":
		return "video/mp2t"
	case ".m4s":
		return "video/iso.segment"
	case ".mp4":
		return "video/mp4"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".json":
		return "application/json"
	case ".vtt":
		return "text/vtt; charset=utf-8"
	case ".ivf", ".ogg":
		return "application/octet-stream"
	}
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// CacheControl is the Cache-Control header for key: playlists may change while a recording is
// processed and subtitles may be replaced (short), segments and posters never change once
// written (immutable).
func CacheControl(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".m3u8", ".json", ".vtt":
		return "public, max-age=2"
	default:
		return "public, max-age=31536000, immutable"
	}
}

func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return ErrInvalidKey
	}
	for _, p := range strings.Split(key, "/") {
		if p == ".." || p == "." {
			return ErrInvalidKey
		}
	}
	return nil
}
