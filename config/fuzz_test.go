package config

import "testing"

// FuzzBytesValue parses the size flags and environment variables (upload and import limits,
// cache sizes: "64KiB", "32MiB", "4GiB", plain bytes). Properties: an accepted size is
// 0..2^62, and its printed form parses back to the same size (round trip).
func FuzzBytesValue(f *testing.F) {
	for _, s := range []string{"1048576", "64KiB", "32mib", "4GiB", "1TB", " 2 M ", "0", "-1", "9223372036854775807", "4611686018427387904B", "1.5G", "KiB", "G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v bytesValue
		if v.Set(s) != nil {
			return
		}
		if v < 0 || v > 1<<62 {
			t.Fatalf("%q parsed as %d", s, v)
		}
		var w bytesValue
		if err := w.Set(v.String()); err != nil || w != v {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, v, v.String(), w, err)
		}
	})
}
