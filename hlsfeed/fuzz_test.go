package hlsfeed

import "testing"

// FuzzVideoKeys: the keyframe and size readers of publisher video (VP8, VP9 through
// mediacommon's vp9.Header, AV1 through internal/av1seq) never panic, and a size they give is
// within the codecs' field widths.
func FuzzVideoKeys(f *testing.F) {
	for _, s := range [][]byte{
		{0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0b, 0x38},
		{0x12, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24, 0xc4, 0xff, 0xdf, 0x00, 0x68, 0x02},
		{0x10, 0x02, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0x00},
		[]byte("700000007"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, key := range map[string]func([]byte) (bool, int, int){"vp8": vp8Key, "vp9": vp9Key, "av1": av1Key} {
			_, w, h := key(b)
			if w < 0 || h < 0 || w > 1<<16 || h > 1<<16 {
				t.Fatalf("%s size %dx%d from %x", name, w, h, b)
			}
		}
	})
}
