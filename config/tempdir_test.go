package config

import (
	"path/filepath"
	"testing"
)

// TestTempDir: transcode scratch space defaults to <data-dir>/tmp (not the system temp dir);
// --temp-dir and RELAYCAST_TEMP_DIR move it.
func TestTempDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", []string{"--data-dir", "/srv/rc"}, nil, filepath.Join("/srv/rc", "tmp")},
		{"flag", []string{"--temp-dir", "/scratch"}, nil, "/scratch"},
		{"env", nil, map[string]string{"RELAYCAST_TEMP_DIR": "/fast"}, "/fast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(newFS(), tc.args, envMap(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ScratchDir(); got != tc.want {
				t.Fatalf("ScratchDir = %q, want %q", got, tc.want)
			}
		})
	}
}
