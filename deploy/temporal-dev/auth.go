package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"go.temporal.io/server/common/authorization"
)

// pemKeys is the server's authorization.TokenKeyProvider over a PEM file of ECDSA P-256 public
// keys: the keys whose private halves sign Reservo's tokens (ES256). A key's id is the
// base64url SHA-256 of its DER cut to 16 characters, as Reservo names it in the token header.
// The file is read again when it changes, so that a key can be rotated in without a restart.
// The keys may also be given inline (the PEM text itself, for a container's environment).
type pemKeys struct {
	path   string
	inline []byte

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	modTime time.Time
	checked time.Time
}

var _ authorization.TokenKeyProvider = (*pemKeys)(nil)

func newPEMKeys(spec string) (*pemKeys, error) {
	p := &pemKeys{path: spec}
	if strings.HasPrefix(strings.TrimSpace(spec), "-----BEGIN") {
		p.path, p.inline = "(inline)", []byte(spec)
	}
	if err := p.load(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pemKeys) load() error {
	raw, modTime := p.inline, time.Time{}
	if raw == nil {
		fi, err := os.Stat(p.path)
		if err != nil {
			return fmt.Errorf("auth keys: %w", err)
		}
		if raw, err = os.ReadFile(p.path); err != nil {
			return fmt.Errorf("auth keys: %w", err)
		}
		modTime = fi.ModTime()
	}
	keys := map[string]*ecdsa.PublicKey{}
	for {
		var block *pem.Block
		block, raw = pem.Decode(raw)
		if block == nil {
			break
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("auth keys %s: %w", p.path, err)
		}
		ek, ok := pub.(*ecdsa.PublicKey)
		if !ok || ek.Curve != elliptic.P256() {
			return fmt.Errorf("auth keys %s: want ECDSA P-256 public keys", p.path)
		}
		sum := sha256.Sum256(block.Bytes)
		keys[base64.RawURLEncoding.EncodeToString(sum[:])[:16]] = ek
	}
	if len(keys) == 0 {
		return fmt.Errorf("auth keys %s: no PEM public key", p.path)
	}
	p.keys, p.modTime, p.checked = keys, modTime, time.Now()
	return nil
}

// EcdsaKey returns the key of kid, reading the file again (at most once a second) when it
// changed since.
func (p *pemKeys) EcdsaKey(alg, kid string) (*ecdsa.PublicKey, error) {
	if alg != jwt.SigningMethodES256.Alg() {
		return nil, fmt.Errorf("unexpected signing algorithm %s", alg)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.keys[kid]; ok {
		return k, nil
	}
	if p.inline == nil && time.Since(p.checked) > time.Second {
		p.checked = time.Now()
		if fi, err := os.Stat(p.path); err == nil && !fi.ModTime().Equal(p.modTime) {
			if err := p.load(); err != nil {
				return nil, err
			}
		}
	}
	if k, ok := p.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("no public key with id %q", kid)
}

func (p *pemKeys) HmacKey(string, string) ([]byte, error) {
	return nil, errors.New("HMAC tokens are not accepted")
}

func (p *pemKeys) RsaKey(string, string) (*rsa.PublicKey, error) {
	return nil, errors.New("RSA tokens are not accepted")
}

func (p *pemKeys) SupportedMethods() []string { return []string{jwt.SigningMethodES256.Alg()} }

func (p *pemKeys) Close() {}
