package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestWorkerCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"help", []string{"-h"}, nil, exitOK, "--redis-url"},
		{"no redis", nil, nil, exitUsage, "--redis-url is required"},
		{"bad flag", []string{"--chunk-duration", "1s", "--redis-url", "redis://127.0.0.1:1"}, nil, exitUsage, "chunk-duration"},
		{"unreachable redis", []string{"--redis-url", "redis://127.0.0.1:1"}, nil, exitFailure, "redis"},
		{"redis from env", nil, map[string]string{"RELAYCAST_REDIS_URL": "redis://127.0.0.1:1"}, exitFailure, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"worker"}, tt.args...), envMap(tt.env), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String()+stdout.String(), tt.want) {
				t.Fatalf("exit %d, want %d; output:\n%s%s", code, tt.code, stdout.String(), stderr.String())
			}
		})
	}
}
