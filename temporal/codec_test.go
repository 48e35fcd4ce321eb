package temporal_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/reservo/reservo/temporal"
)

func mustKey(t *testing.T, id string) string {
	t.Helper()
	k, err := temporal.NewKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCodec_EncryptsEveryPayloadAndDecryptsItBack(t *testing.T) {
	ring, err := temporal.ParseKeyring(mustKey(t, "k1"), "")
	if err != nil {
		t.Fatal(err)
	}
	dc := temporal.DataConverter(temporal.NewCodec(ring))
	secret := map[string]string{"client_secret": "pi_123_secret_abc", "guest": "ada@example.com"}
	p, err := dc.ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Metadata[converter.MetadataEncoding]) != temporal.EncodingEncrypted || string(p.Metadata[temporal.MetadataKeyID]) != "k1" {
		t.Fatalf("metadata %v", p.Metadata)
	}
	if bytes.Contains(p.Data, []byte("pi_123")) || bytes.Contains(p.Data, []byte("json/plain")) {
		t.Fatal("the payload shows its plaintext")
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["client_secret"] != secret["client_secret"] {
		t.Fatalf("decoded %v, %v", back, err)
	}
	// Two encryptions of one value differ (a fresh nonce each).
	q, _ := dc.ToPayload(secret)
	if bytes.Equal(p.Data, q.Data) {
		t.Fatal("same ciphertext twice")
	}
}

func TestCodec_PlainPayloadsOfOldHistoriesPassAsTheyAre(t *testing.T) {
	ring, _ := temporal.ParseKeyring(mustKey(t, "k1"), "")
	plain, _ := converter.GetDefaultDataConverter().ToPayload("written before encryption")
	out, err := temporal.NewCodec(ring).Decode([]*commonpb.Payload{plain})
	if err != nil || out[0] != plain {
		t.Fatalf("decode of a plain payload: %v, %v", out, err)
	}
}

func TestCodec_RotationKeepsOldKeysDecryptingAndUnknownKeysFail(t *testing.T) {
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	old, _ := temporal.ParseKeyring(k1, "k1")
	sealed, err := temporal.NewCodec(old).Encode([]*commonpb.Payload{{Data: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	// Rotated: k2 encrypts, k1 still decrypts what it sealed.
	rotated, err := temporal.ParseKeyring(k1+","+k2, "k2")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := temporal.NewCodec(rotated).Decode(sealed); err != nil || string(out[0].Data) != "x" {
		t.Fatalf("old key after rotation: %v, %v", out, err)
	}
	fresh, _ := temporal.NewCodec(rotated).Encode([]*commonpb.Payload{{Data: []byte("y")}})
	if id := string(fresh[0].Metadata[temporal.MetadataKeyID]); id != "k2" {
		t.Fatalf("encrypted with %q; want the current key k2", id)
	}
	// Retired: k1 gone, what it sealed no longer opens, and says why.
	retired, _ := temporal.ParseKeyring(k2, "")
	if _, err := temporal.NewCodec(retired).Decode(sealed); !errors.Is(err, temporal.ErrUnknownKey) {
		t.Fatalf("decode with a retired key: %v; want ErrUnknownKey", err)
	}
	// A changed byte or a swapped key id fails the authentication.
	tampered := &commonpb.Payload{Metadata: sealed[0].Metadata, Data: append([]byte{}, sealed[0].Data...)}
	tampered.Data[len(tampered.Data)-1] ^= 1
	if _, err := temporal.NewCodec(old).Decode([]*commonpb.Payload{tampered}); err == nil {
		t.Fatal("a tampered payload decoded")
	}
}

func TestParseKeyring_Errors(t *testing.T) {
	k1 := mustKey(t, "k1")
	for spec, current := range map[string]string{
		"":                          "",
		"k1":                        "",
		"k1:not-base64!":            "",
		"k1:c2hvcnQ=":               "",
		k1 + "," + k1:               "",
		k1:                          "k9",
		"a b:" + k1[len("k1:"):]:    "",
		strings.Repeat("x", 3) + k1: "k9",
	} {
		if _, err := temporal.ParseKeyring(spec, current); err == nil {
			t.Errorf("ParseKeyring(%.12q…, %q) accepted", spec, current)
		} else if strings.Contains(err.Error(), k1[len("k1:"):]) {
			t.Errorf("the error shows key material: %v", err)
		}
	}
}

func TestSigner_TokensVerifyAndCarryTheirPermissions(t *testing.T) {
	k1, err := temporal.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := temporal.NewSigningKey()
	now := time.Now()
	clock := func() time.Time { return now }
	s, err := temporal.ParseSigner(k1+","+k2, clock)
	if err != nil {
		t.Fatal(err)
	}
	token, exp, err := s.Token("staff:ada", temporal.ReaderPermissions("default"), time.Hour)
	if err != nil || !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("token: %v, %v", exp, err)
	}
	sub, perms, err := s.Verify(token)
	if err != nil || sub != "staff:ada" || !temporal.Permits(perms, "default") || temporal.Permits([]string{"other:read"}, "default") {
		t.Fatalf("verify: %q %v %v", sub, perms, err)
	}
	// A token of the second key (before a rotation made the first current) still verifies.
	old, _ := temporal.ParseSigner(k2, clock)
	t2, _, _ := old.Token("reservo", temporal.WriterPermissions("default"), time.Hour)
	if _, _, err := s.Verify(t2); err != nil {
		t.Fatalf("a token of the older key: %v", err)
	}
	// Another deployment's key, an expired token, and a forged one fail.
	other, _ := temporal.NewSigningKey()
	o, _ := temporal.ParseSigner(other, clock)
	t3, _, _ := o.Token("x", temporal.AdminPermissions("default"), time.Hour)
	t4, _, _ := s.Token("x", nil, -2*time.Minute)
	for _, bad := range []string{t3, t4, token[:len(token)-3] + "AAA", "", "garbage"} {
		if _, _, err := s.Verify(bad); !errors.Is(err, temporal.ErrInvalidToken) {
			t.Errorf("verify(%.20q…): %v; want ErrInvalidToken", bad, err)
		}
	}
	// The JWKS lists both public keys as ES256 EC keys.
	var set struct {
		Keys []struct{ Kty, Crv, Alg, Kid, X, Y string }
	}
	if err := json.Unmarshal(s.JWKS(), &set); err != nil || len(set.Keys) != 2 || set.Keys[0].Kty != "EC" || set.Keys[0].Alg != "ES256" ||
		len(set.Keys[0].X) != 43 || set.Keys[0].Kid == set.Keys[1].Kid {
		t.Fatalf("jwks %+v, %v", set, err)
	}
	if pem, err := s.PublicPEM(); err != nil || strings.Count(string(pem), "BEGIN PUBLIC KEY") != 2 {
		t.Fatalf("pem %s, %v", pem, err)
	}
	if _, err := temporal.ParseSigner("bm90IGEga2V5", clock); err == nil {
		t.Fatal("a non-key parsed")
	}
}

// TestKeyID_AsDeployTemporalDevNamesIt: the key id in Reservo's token headers is the one
// deploy/temporal-dev (its auth_test.go has the same vector) and a JWKS reader look up.
func TestKeyID_AsDeployTemporalDevNamesIt(t *testing.T) {
	block, _ := pem.Decode([]byte(`-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoUnCLjNKJ7bKFkb02+fJF+Scp+Br
zRboOK2R1AcbW/aXDE0MxuwVf5etZoDYS0PYWQqoWFHZ6Xmnq4q3xPIrQA==
-----END PUBLIC KEY-----`))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if kid, err := temporal.KeyID(pub.(*ecdsa.PublicKey)); err != nil || kid != "AvuIVZROGwvv2CUR" {
		t.Fatalf("key id %q, %v", kid, err)
	}
}

// TestSigner_TokenSourceRenewsBeforeExpiry: a long-running worker keeps a valid token: the
// same one while it has more than five minutes left, a new one after.
func TestSigner_TokenSourceRenewsBeforeExpiry(t *testing.T) {
	key, _ := temporal.NewSigningKey()
	now := time.Now()
	s, err := temporal.ParseSigner(key, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	src := s.TokenSource("reservo", temporal.WriterPermissions("default"))
	first, err := src(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(50 * time.Minute)
	if again, _ := src(context.Background()); again != first {
		t.Fatal("a new token ten minutes before the expiry")
	}
	now = now.Add(6 * time.Minute)
	renewed, _ := src(context.Background())
	if renewed == first {
		t.Fatal("the same token four minutes before its expiry")
	}
	if _, _, err := s.Verify(renewed); err != nil {
		t.Fatalf("the renewed token: %v", err)
	}
}
