package transcode

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckIVF(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data string
		bad  bool
	}{
		{"ivf", "DKIF\x00\x00\x20\x00VP80", false},
		{"text", "not a video not a video", true},
		{"short", "DK", true},
		{"empty", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, tc.name)
			if err := os.WriteFile(f, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			err := checkIVF(f)
			if tc.bad != errors.Is(err, ErrBadMedia) || (!tc.bad && err != nil) {
				t.Errorf("checkIVF(%q) = %v", tc.data, err)
			}
		})
	}
}
