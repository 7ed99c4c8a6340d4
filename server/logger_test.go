package server

import (
	"log/slog"
	"os"
)

type slogLogger = slog.Logger

func newTestLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
