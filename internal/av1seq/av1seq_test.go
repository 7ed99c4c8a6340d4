package av1seq

import "testing"

// TestSizeNeverPanics: headers cut at every length, including a uvlc with no leading zeros at
// the very end (mediacommon's ReadBits indexes past the buffer when asked for 0 bits there).
func TestSizeNeverPanics(t *testing.T) {
	for _, h := range [][]byte{
		[]byte("700000007"), // the fuzz finding (recorder/testdata/fuzz/FuzzCodecHeaders/av1-uvlc-at-end-of-header)
		{0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24, 0xc4, 0xff, 0xdf, 0x00, 0x68, 0x02},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		for n := 0; n <= len(h); n++ {
			_, _, _, _ = Size(h[:n])
		}
	}
}
