package temporal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.temporal.io/sdk/client"
)

// Temporal's frontend authorizes every call from the bearer token it carries: a JWT that the
// server's default claim mapper reads (signed ES256, key id in the header, the public keys
// from a JWKS or, for deploy/temporal-dev, a PEM file), whose "permissions" claim lists
// "<namespace>:<read|write|admin>" or "temporal-system:<role>" for the whole cluster. Reservo
// signs its own tokens: the services get a writer's, the staff plane a reader's for the Web UI.

// SystemNamespace is the permission scope of the whole cluster.
const SystemNamespace = "temporal-system"

// Permissions of Reservo's principals.
func WriterPermissions(namespace string) []string { return []string{namespace + ":write"} }

// ReaderPermissions let the Web UI read the namespace and the cluster's settings, nothing more.
func ReaderPermissions(namespace string) []string {
	return []string{namespace + ":read", SystemNamespace + ":read"}
}

// AdminPermissions may also register the namespace and its search attributes.
func AdminPermissions(namespace string) []string {
	return []string{namespace + ":admin", SystemNamespace + ":admin"}
}

const tokenIssuer = "reservo"

// Signer signs Reservo's Temporal tokens with the first of its ECDSA P-256 keys; every key is
// published (JWKS, PEM) so that tokens signed before a rotation stay valid until they expire.
type Signer struct {
	keys []*ecdsa.PrivateKey
	kids []string
	now  func() time.Time
}

// ParseSigner reads keys written as comma-separated standard base64 of PKCS#8 (or SEC 1) DER,
// as deploy/stack.sh makes them with openssl; the first signs.
func ParseSigner(spec string, now func() time.Time) (*Signer, error) {
	s := &Signer{now: now}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		der, err := base64.StdEncoding.DecodeString(item)
		if err != nil {
			return nil, errors.New("temporal auth key: not base64")
		}
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(der); err != nil {
			if k, err = x509.ParseECPrivateKey(der); err != nil { // SEC 1, as openssl ec writes
				return nil, errors.New("temporal auth key: neither PKCS#8 nor SEC 1 DER")
			}
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != elliptic.P256() {
			return nil, errors.New("temporal auth key: want an ECDSA P-256 key (ES256)")
		}
		kid, err := KeyID(&ek.PublicKey)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, ek)
		s.kids = append(s.kids, kid)
	}
	if len(s.keys) == 0 {
		return nil, errors.New("temporal auth key: none")
	}
	return s, nil
}

// NewSigningKey returns a fresh P-256 key in the form ParseSigner reads.
func NewSigningKey() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// KeyID names a public key: the base64url SHA-256 of its DER, cut to 16 characters.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("temporal auth key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16], nil
}

type tokenClaims struct {
	Permissions []string `json:"permissions"`
	jwt.RegisteredClaims
}

// Token returns a token for subject with these permissions, valid for ttl, and its expiry.
func (s *Signer) Token(subject string, permissions []string, ttl time.Duration) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(ttl)
	t := jwt.NewWithClaims(jwt.SigningMethodES256, tokenClaims{Permissions: permissions, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: tokenIssuer, Subject: subject, IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(exp),
	}})
	t.Header["kid"] = s.kids[0]
	signed, err := t.SignedString(s.keys[0])
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign temporal token: %w", err)
	}
	return signed, exp, nil
}

// JWKS is the JSON Web Key Set of the public keys (what the Temporal server's
// TEMPORAL_JWT_KEY_SOURCE1 fetches).
func (s *Signer) JWKS() []byte {
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		Kid string `json:"kid"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{}
	for i, k := range s.keys {
		point, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil || len(point) != 65 {
			continue // a P-256 key parsed by ParseSigner always encodes
		}
		set.Keys = append(set.Keys, jwk{Kty: "EC", Crv: "P-256", Alg: "ES256", Use: "sig", Kid: s.kids[i],
			X: base64.RawURLEncoding.EncodeToString(point[1:33]), Y: base64.RawURLEncoding.EncodeToString(point[33:])})
	}
	b, _ := json.Marshal(set)
	return b
}

// PublicPEM is the public keys as PEM blocks (what deploy/temporal-dev reads).
func (s *Signer) PublicPEM() ([]byte, error) {
	var out []byte
	for _, k := range s.keys {
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	return out, nil
}

// Credentials sends a token of subject with permissions on every call, signed anew a while
// before the one in hand expires.
func (s *Signer) Credentials(subject string, permissions []string) client.Credentials {
	return client.NewAPIKeyDynamicCredentials(s.TokenSource(subject, permissions))
}

// tokenTTL is the lifetime of the tokens a process signs for itself; renewAhead is how long
// before expiry it signs the next one.
const (
	tokenTTL   = time.Hour
	renewAhead = 5 * time.Minute
)

// TokenSource returns a func that gives a valid token of subject with permissions, signing a
// new one when the last is close to expiry.
func (s *Signer) TokenSource(subject string, permissions []string) func(context.Context) (string, error) {
	var mu sync.Mutex
	var token string
	var exp time.Time
	return func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if token != "" && s.now().Before(exp.Add(-renewAhead)) {
			return token, nil
		}
		t, e, err := s.Token(subject, permissions, tokenTTL)
		if err != nil {
			return "", err
		}
		token, exp = t, e
		return token, nil
	}
}

// ErrInvalidToken is returned for a token that is malformed, forged, expired, or signed by a
// key the signer does not hold.
var ErrInvalidToken = errors.New("temporal: invalid token")

// Verify checks a token signed by one of the keys (the current or an older one) and returns
// its subject and permissions.
func (s *Signer) Verify(token string) (subject string, permissions []string, err error) {
	var c tokenClaims
	_, err = jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for i, k := range s.kids {
			if k == kid {
				return &s.keys[i].PublicKey, nil
			}
		}
		return nil, errors.New("unknown key id")
	}, jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithIssuer(tokenIssuer), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now))
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return c.Subject, c.Permissions, nil
}

// Permits reports whether permissions let their holder read namespace, as Temporal's default
// authorizer sees it: any role on the namespace, or on the whole cluster.
func Permits(permissions []string, namespace string) bool {
	for _, p := range permissions {
		scope, role, _ := strings.Cut(p, ":")
		if (scope == namespace || scope == SystemNamespace) && role != "" {
			return true
		}
	}
	return false
}
