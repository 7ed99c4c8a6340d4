package sfu

import (
	"strings"
	"testing"
)

// simulcastOffer is a browser-like publish offer: Opus audio and VP8/H.264 video with three
// simulcast RIDs (RFC 8853), the shape the SFU's offer handling reads.
const simulcastOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0 1\r\na=msid-semantic: WMS\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\n" +
	"a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n" +
	"a=rid:h send\r\na=rid:m send\r\na=rid:l send\r\na=simulcast:send h;m;l\r\n"

// FuzzOfferRIDs parses client offers for their simulcast RIDs (what decides how many tracks a
// publish waits for). Property: no panic; every RID returned is the first word of an a=rid line
// of the offer with direction send, and there are no more of them than such lines.
func FuzzOfferRIDs(f *testing.F) {
	f.Add(simulcastOffer)
	f.Add(strings.ReplaceAll(simulcastOffer, "a=rid:m send\r\n", "a=rid:m recv\r\na=rid:\r\na=rid:x\r\n"))
	f.Add(strings.Replace(simulcastOffer, "a=mid:1", "a=mid:", 1))
	f.Add("v=0\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, offer string) {
		n := 0
		for _, rids := range offerRIDs(offer) {
			for _, rid := range rids {
				n++
				if rid == "" || strings.ContainsAny(rid, " \t\r\n") || !strings.Contains(offer, rid) {
					t.Fatalf("rid %q not from the offer", rid)
				}
			}
		}
		if lines := strings.Count(offer, "a=rid:"); n > lines {
			t.Fatalf("%d rids from %d a=rid lines", n, lines)
		}
		if c := RelayTrackCount(offer); c < 0 || c > strings.Count(offer, "m=") {
			t.Fatalf("RelayTrackCount = %d", c)
		}
	})
}

// FuzzStartBitrate munges answers (the SFU adds x-google-start-bitrate to each video codec's
// fmtp). Property: no line of the input is lost or reordered, only video fmtp lines change, and
// the output grows by at most one fmtp line per rtpmap line.
func FuzzStartBitrate(f *testing.F) {
	f.Add(simulcastOffer)
	f.Add("a=rtpmap:96 VP8/90000\r\na=rtpmap:96 vp9/90000\r\na=fmtp:96 x=1\r\na=fmtp:96 y\r\n")
	f.Add("a=rtpmap: \r\na=fmtp:\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		in := strings.Split(sdp, "\r\n")
		out := strings.Split(withStartBitrate(sdp), "\r\n")
		if extra := len(out) - len(in); extra < 0 || extra > strings.Count(sdp, "a=rtpmap:") {
			t.Fatalf("%d lines became %d", len(in), len(out))
		}
		j := 0
		for _, l := range in {
			for j < len(out) && out[j] != l && !(strings.HasPrefix(l, "a=fmtp:") && strings.HasPrefix(out[j], l+";x-google-start-bitrate=")) {
				if !strings.HasPrefix(out[j], "a=fmtp:") {
					t.Fatalf("line %q inserted", out[j])
				}
				j++
			}
			if j == len(out) {
				t.Fatalf("line %q lost", l)
			}
			j++
		}
	})
}

// FuzzRelayTrackID round-trips the track IDs a relay pull reads from another node's answer.
func FuzzRelayTrackID(f *testing.F) {
	f.Add("relay_0_1_h")
	f.Add("relay_3_0_")
	f.Add("relay_-1_0_x")
	f.Add("relay_99999999999999999999_0_x")
	f.Fuzz(func(t *testing.T, id string) {
		slot, rank, rid, ok := ParseRelayTrackID(id)
		if !ok {
			return
		}
		if slot < 0 || rank < 0 {
			t.Fatalf("%q: slot %d rank %d", id, slot, rank)
		}
		if s2, r2, rid2, ok2 := ParseRelayTrackID(RelayTrackID(slot, rank, rid)); !ok2 || s2 != slot || r2 != rank || rid2 != rid {
			t.Fatalf("%q does not round-trip", id)
		}
	})
}
