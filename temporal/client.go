package temporal

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdktemporal "go.temporal.io/sdk/temporal"
)

// ClientConfig is what every Temporal client of Reservo shares: where the frontend is, how it
// proves who it is, and how payloads are encrypted.
type ClientConfig struct {
	Addr      string
	Namespace string
	// TLS dials the frontend over TLS (the system's roots).
	TLS bool
	// AuthKeys are the token signing keys (ParseSigner); empty: no token is sent, for a server
	// without authorization.
	AuthKeys string
	// Subject names the client in its tokens (and in the server's audit of who did what).
	Subject string
	// Permissions of its tokens; default WriterPermissions of the namespace.
	Permissions []string
	// PayloadKeys and PayloadKeyID: the keyring of payload encryption (ParseKeyring); empty:
	// payloads go in clear.
	PayloadKeys, PayloadKeyID string
	Logger                    *slog.Logger
	Now                       func() time.Time // default time.Now
}

// Codec returns the payload codec of the configuration; nil when no keys are set.
func (c ClientConfig) Codec() (*Codec, error) {
	if c.PayloadKeys == "" {
		return nil, nil
	}
	ring, err := ParseKeyring(c.PayloadKeys, c.PayloadKeyID)
	if err != nil {
		return nil, err
	}
	return NewCodec(ring), nil
}

// Signer returns the token signer of the configuration; nil when no keys are set.
func (c ClientConfig) Signer() (*Signer, error) {
	if c.AuthKeys == "" {
		return nil, nil
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return ParseSigner(c.AuthKeys, now)
}

// ClientOptions are the client options of the configuration: the payload codec on the data
// converter (so Temporal stores ciphertext only), and a bearer token on every call.
func ClientOptions(c ClientConfig) (client.Options, error) {
	opts := client.Options{HostPort: c.Addr, Namespace: c.Namespace}
	if c.Logger != nil {
		opts.Logger = c.Logger
	}
	codec, err := c.Codec()
	if err != nil {
		return client.Options{}, err
	}
	if codec != nil {
		opts.DataConverter = DataConverter(codec)
		opts.FailureConverter = FailureConverter(opts.DataConverter)
	}
	if c.TLS {
		opts.ConnectionOptions.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	signer, err := c.Signer()
	if err != nil {
		return client.Options{}, err
	}
	if signer != nil {
		perms := c.Permissions
		if perms == nil {
			perms = WriterPermissions(c.Namespace)
		}
		subject := c.Subject
		if subject == "" {
			subject = "reservo"
		}
		opts.Credentials = signer.Credentials(subject, perms)
		// The SDK turns TLS on with a token unless told not to; a frontend on a private
		// network (127.0.0.1, a cluster's pod network behind a mesh) may speak plain gRPC.
		opts.ConnectionOptions.TLSDisabled = !c.TLS
	}
	return opts, nil
}

// DataConverterOf returns the data converter of a configuration (the codec's, or the default
// one), for replayers and tools that decode without a client.
func DataConverterOf(c ClientConfig) (converter.DataConverter, error) {
	codec, err := c.Codec()
	if err != nil {
		return nil, fmt.Errorf("payload keys: %w", err)
	}
	if codec == nil {
		return DataConverter(nil), nil
	}
	return DataConverter(codec), nil
}

// FailureConverter encodes the message and stack trace of every failure with dc (an error's
// text can name a guest or a card), so that failures too are ciphertext on the server; the
// Web UI, the CLI and `reservo ops` decode them through the same codec.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return sdktemporal.NewDefaultFailureConverter(sdktemporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
}
