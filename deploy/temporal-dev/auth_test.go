package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
)

// A throwaway public key and a token that Reservo's temporal.Signer made with its private half
// (valid for a century; the private key is not kept): the server's default claim mapper, over
// the keys of this program, must read Reservo's tokens as Reservo writes them.
const (
	reservoPublicKey = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoUnCLjNKJ7bKFkb02+fJF+Scp+Br
zRboOK2R1AcbW/aXDE0MxuwVf5etZoDYS0PYWQqoWFHZ6Xmnq4q3xPIrQA==
-----END PUBLIC KEY-----
`
	reservoKeyID = "AvuIVZROGwvv2CUR"
	reservoToken = "eyJhbGciOiJFUzI1NiIsImtpZCI6IkF2dUlWWlJPR3d2djJDVVIiLCJ0eXAiOiJKV1QifQ.eyJwZXJtaXNzaW9ucyI6WyJkZWZhdWx0OndyaXRlIl0sImlzcyI6InJlc2Vydm8iLCJzdWIiOiJyZXNlcnZvIiwiZXhwIjo0OTQ5ODg2OTM1LCJuYmYiOjE3OTYyODY4NzUsImlhdCI6MTc5NjI4NjkzNX0.xk5sIAlZ5xo8-foVM-XTZRSPldP0oc1WLLID11g75ujlfgK8CVwNKVbjj-NSZtCTOMuxG1QmMQe2vIM1L04BFg"
)

func TestPEMKeys_ReadReservosTokensWithTheDefaultClaimMapper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(path, []byte(reservoPublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{path, reservoPublicKey} { // a file, or the PEM text itself
		keys, err := newPEMKeys(spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.EcdsaKey("ES256", reservoKeyID); err != nil {
			t.Fatalf("key %s: %v", reservoKeyID, err)
		}
		mapper := authorization.NewDefaultJWTClaimMapper(keys, &config.Authorization{PermissionsClaimName: "permissions"}, log.NewNoopLogger())
		claims, err := mapper.GetClaims(&authorization.AuthInfo{AuthToken: "Bearer " + reservoToken})
		if err != nil || claims.Subject != "reservo" || claims.Namespaces["default"] != authorization.RoleWriter {
			t.Fatalf("claims %+v, %v; want reservo, a writer of default", claims, err)
		}
		// A changed token, or none: no claims to act on.
		if _, err := mapper.GetClaims(&authorization.AuthInfo{AuthToken: "Bearer " + strings.Replace(reservoToken, "e", "f", 1)}); err == nil {
			t.Fatal("a changed token was read")
		}
		if c, err := mapper.GetClaims(&authorization.AuthInfo{}); err != nil || c.Subject != "" || len(c.Namespaces) != 0 || c.System != 0 {
			t.Fatalf("no token: %+v, %v", c, err)
		}
	}
}

func TestPEMKeys_ReadsTheFileAgainWhenAKeyIsAdded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(path, []byte(reservoPublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := newPEMKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	// A rotation: a new key is added to the file.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	sum := sha256.Sum256(der)
	kid := base64.RawURLEncoding.EncodeToString(sum[:])[:16]
	if _, err := keys.EcdsaKey("ES256", kid); err == nil {
		t.Fatal("a key not yet in the file was found")
	}
	time.Sleep(1100 * time.Millisecond)
	rotated := reservoPublicKey + string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err := os.WriteFile(path, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Second)
	_ = os.Chtimes(path, future, future)
	if _, err := keys.EcdsaKey("ES256", kid); err != nil {
		t.Fatalf("the new key after the file changed: %v", err)
	}
	if _, err := keys.EcdsaKey("ES256", reservoKeyID); err != nil {
		t.Fatalf("the old key after the rotation: %v", err)
	}
	if _, err := keys.EcdsaKey("RS256", reservoKeyID); err == nil {
		t.Fatal("another algorithm was accepted")
	}
	if _, err := newPEMKeys(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Fatal("a missing file was read")
	}
}
