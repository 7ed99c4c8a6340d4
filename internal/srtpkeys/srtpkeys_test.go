package srtpkeys

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// The keys learned from the DTLS observers are the ones the DTLS library exports, for every
// cipher suite and SRTP profile Pion offers, with and without the extended master secret; and
// packets encrypted with them (across a sequence-number wrap) decrypt at the other end.
func TestKeyCaptureMatchesDTLSExporter(t *testing.T) {
	suites := []dtls.CipherSuiteID{
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	}
	profiles := []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80}
	for _, suite := range suites {
		for _, profile := range profiles {
			for _, ems := range []dtls.ExtendedMasterSecretType{dtls.RequestExtendedMasterSecret, dtls.DisableExtendedMasterSecret} {
				t.Run(dtls.CipherSuiteName(suite), func(t *testing.T) { checkKeyCapture(t, suite, profile, ems) })
			}
		}
	}
}

func checkKeyCapture(t *testing.T, suite dtls.CipherSuiteID, profile dtls.SRTPProtectionProfile, ems dtls.ExtendedMasterSecretType) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	sc, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	k := &Capture{}
	common := func() *dtls.Config {
		return &dtls.Config{
			Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
			CipherSuites: []dtls.CipherSuiteID{suite}, SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{profile},
			ExtendedMasterSecret: ems,
		}
	}
	scfg := common()
	scfg.KeyLogWriter = k
	scfg.ServerHelloMessageHook = k.ServerHello
	server, err := dtls.Server(sc, cc.LocalAddr(), scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	// The client side learns the same keys from its key log and the ServerHello datagram.
	kc := &Capture{}
	ccfg := common()
	ccfg.KeyLogWriter = kc
	client, err := dtls.Client(&helloSniffer{UDPConn: cc, k: kc}, sc.LocalAddr(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- server.HandshakeContext(ctx) }()
	if err := client.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	state, _ := client.ConnectionState()
	want, err := state.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 88)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 88)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("exported keys differ:\n got %x\nwant %x", got, want)
	}
	if got, err := kc.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 88); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("client-side capture: %x, %v; want %x", got, err, want)
	}

	// What the server encrypts with localSRTP, the client decrypts with its remote keys.
	enc, err := k.Context(true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, true); err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile)
	if err != nil {
		t.Fatal(err)
	}
	dec2, err := kc.Context(true)
	if err != nil {
		t.Fatal(err)
	}
	var h rtp.Header
	for i := 0; i < 20; i++ {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(65530 + i), Timestamp: uint32(i), SSRC: 42}, Payload: []byte{byte(i), 1, 2, 3}}
		buf := make([]byte, 1500)
		n, _ := p.MarshalTo(buf)
		out, err := enc.EncryptRTP(buf[:n], buf[:n], &h)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := dec.DecryptRTP(nil, out, nil)
		if err != nil {
			t.Fatalf("packet %d (seq %d): %v", i, p.SequenceNumber, err)
		}
		if !bytes.Equal(plain[12:], p.Payload) {
			t.Fatalf("packet %d decrypted to %x", i, plain)
		}
		if plain2, err := dec2.DecryptRTP(nil, out, nil); err != nil || !bytes.Equal(plain2, plain) {
			t.Fatalf("client-side capture: packet %d: %v", i, err)
		}
	}
}

// helloSniffer shows every datagram the client reads to the capture.
type helloSniffer struct {
	*net.UDPConn
	k *Capture
}

func (h *helloSniffer) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := h.UDPConn.ReadFrom(p)
	if err == nil {
		h.k.ServerHelloDatagram(p[:n])
	}
	return n, a, err
}
