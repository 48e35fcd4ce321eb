package temporal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload. A payload without this encoding (written before payloads
// were encrypted) decodes as it is, so old histories still replay.
const (
	EncodingEncrypted = "binary/encrypted"
	MetadataKeyID     = "encryption-key-id"
)

// ErrUnknownKey is returned when a payload was encrypted with a key the keyring does not hold
// (a key retired too early, or another deployment's).
var ErrUnknownKey = errors.New("temporal: payload encrypted with an unknown key")

// Keyring holds the AES-256 keys of payload encryption by id: one encrypts, all decrypt, so
// that a key can be rotated in (encrypt with the new one, keep the old one while histories
// written with it are live) and out.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a keyring over keys (id → 32-byte key); current names the key that
// encrypts.
func NewKeyring(keys map[string][]byte, current string) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("payload keys: none")
	}
	r := &Keyring{current: current, aeads: map[string]cipher.AEAD{}}
	for id, k := range keys {
		if id == "" || strings.ContainsAny(id, ":, ") {
			return nil, fmt.Errorf("payload key id %q: want a plain name", id)
		}
		if len(k) != 32 {
			return nil, fmt.Errorf("payload key %s: %d bytes, want 32 (AES-256)", id, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("payload key %s: %w", id, err)
		}
		if r.aeads[id], err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("payload key %s: %w", id, err)
		}
	}
	if _, ok := r.aeads[current]; !ok {
		return nil, fmt.Errorf("payload key id %q: not among the keys (%s)", current, strings.Join(r.IDs(), ", "))
	}
	return r, nil
}

// ParseKeyring reads keys written as "id:base64,id2:base64" (standard base64 of 32 bytes each);
// current names the key that encrypts (empty: the first listed).
func ParseKeyring(spec, current string) (*Keyring, error) {
	keys := map[string][]byte{}
	first := ""
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, b64, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("payload keys: %q is not id:base64", redact(item))
		}
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("payload key %s: not base64", id)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("payload key %s: listed twice", id)
		}
		keys[id] = k
		if first == "" {
			first = id
		}
	}
	if current == "" {
		current = first
	}
	return NewKeyring(keys, current)
}

// redact keeps a key's id and hides its material in an error message.
func redact(item string) string {
	if len(item) > 8 {
		return item[:4] + "…"
	}
	return "…"
}

// NewKey returns a fresh random 32-byte key in the form ParseKeyring reads, "id:base64".
func NewKey(id string) (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(k), nil
}

// IDs lists the key ids, sorted.
func (r *Keyring) IDs() []string {
	ids := make([]string, 0, len(r.aeads))
	for id := range r.aeads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Current is the id of the key that encrypts.
func (r *Keyring) Current() string { return r.current }

// Codec is a converter.PayloadCodec that encrypts every payload with AES-256-GCM: the whole
// payload (metadata and data) is sealed under the keyring's current key with a random nonce,
// and the key's id travels in the new payload's metadata (also authenticated, as the additional
// data), so that Temporal stores ciphertext only and a rotated key still decrypts what it
// wrote.
type Codec struct{ ring *Keyring }

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns the codec of ring.
func NewCodec(ring *Keyring) *Codec { return &Codec{ring: ring} }

// Encode encrypts each payload.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.ring.aeads[c.ring.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.ring.current),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.ring.current)),
		}
	}
	return out, nil
}

// Decode decrypts each encrypted payload; others (written before encryption) pass unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.ring.aeads[id]
		if !ok {
			return nil, fmt.Errorf("%w: %q (have %s)", ErrUnknownKey, id, strings.Join(c.ring.IDs(), ", "))
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("decrypt payload: too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decrypt payload with key %s: %w", id, err)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return nil, fmt.Errorf("decrypt payload: %w", err)
		}
		out[i] = &dec
	}
	return out, nil
}

// DataConverter is Temporal's default data converter with codec applied to every payload
// (nil: the default converter alone).
func DataConverter(codec converter.PayloadCodec) converter.DataConverter {
	if codec == nil {
		return converter.GetDefaultDataConverter()
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec)
}

// DecodeHistory decodes in place every payload of a history (inputs, results, signals,
// updates, memos, failure details) with codec, for people to read it or to replay it without
// the codec.
func DecodeHistory(ctx context.Context, h *historypb.History, codec converter.PayloadCodec) error {
	return proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return codec.Decode(ps)
		},
		// Search attributes are indexed by the server: the SDK never encodes them.
		SkipSearchAttributes: true,
	})
}

// Encrypted reports whether a payload is sealed by a Codec.
func Encrypted(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[converter.MetadataEncoding]) == EncodingEncrypted
}

// HistoryKeys lists the ids of the keys a history's payloads are encrypted with (none: a
// history written in clear), so that an operator knows whether a key can be retired.
func HistoryKeys(ctx context.Context, h *historypb.History) ([]string, error) {
	var ids []string
	err := proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			for _, p := range ps {
				if Encrypted(p) {
					ids = append(ids, string(p.GetMetadata()[MetadataKeyID]))
				}
			}
			return ps, nil
		},
		SkipSearchAttributes: true,
	})
	slices.Sort(ids)
	return slices.Compact(ids), err
}
