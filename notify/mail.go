package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Mail is one plain-text e-mail.
type Mail struct {
	To      string
	Subject string
	Body    string
	// MessageID, without angle brackets, is derived from the notification id so that a message
	// sent twice (crash between send and mark) carries the same id both times.
	MessageID string
}

// Mailer sends e-mail.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// SMTPConfig says how to reach the SMTP relay.
type SMTPConfig struct {
	// Addr is host:port of the relay (RESERVO_SMTP_ADDR).
	Addr string
	// From is the sender address (RESERVO_SMTP_FROM).
	From string
	// Username and Password, when Username is set, authenticate (RESERVO_SMTP_USERNAME,
	// RESERVO_SMTP_PASSWORD); the mechanism is the best the server offers.
	Username string
	Password string
	// Timeout bounds the connection and each command; zero is 15 seconds.
	Timeout time.Duration
}

// SMTPMailer sends e-mail through an SMTP relay, one connection per message. Connections to a
// loopback relay stay plain; any other relay is asked for STARTTLS when it offers it.
type SMTPMailer struct {
	cfg  SMTPConfig
	host string
	port int
}

var _ Mailer = (*SMTPMailer)(nil)

// NewSMTPMailer checks cfg and returns the mailer.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("smtp address %q: bad port", cfg.Addr)
	}
	if host == "" {
		return nil, fmt.Errorf("smtp address %q: no host", cfg.Addr)
	}
	if cfg.From == "" {
		return nil, errors.New("smtp: a from address is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &SMTPMailer{cfg: cfg, host: host, port: port}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send implements Mailer.
func (s *SMTPMailer) Send(ctx context.Context, m Mail) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mail to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	} else {
		msg.SetMessageID()
	}
	// Automated mail: no out-of-office replies.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)

	policy := gomail.TLSOpportunistic
	if isLoopback(s.host) {
		policy = gomail.NoTLS
	}
	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTimeout(s.cfg.Timeout), gomail.WithTLSPolicy(policy)}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*s.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	return nil
}

// LogMailer writes e-mails to a log instead of sending them. It is meant for a local setup
// without a relay (RESERVO_SMTP_ADDR empty in the local profile), never for production.
type LogMailer struct{ Log *slog.Logger }

var _ Mailer = LogMailer{}

// Send implements Mailer.
func (l LogMailer) Send(ctx context.Context, m Mail) error {
	l.Log.InfoContext(ctx, "mail not sent: no SMTP relay configured", "subject", m.Subject, "message_id", m.MessageID)
	return nil
}
