// Command mailsink is the local stack's SMTP server: it accepts every message on 127.0.0.1 and
// writes it as an .eml file into a folder, so that the e-mails Reservo sends in `make run` can be
// read. It is a development tool, not a relay: it delivers nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1025", "address to listen on")
	dir := flag.String("dir", ".data/mail", "folder of the received messages")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *dir, nil); err != nil {
		fmt.Fprintln(os.Stderr, "mailsink:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends; ready, if not nil, receives the listening address.
func run(ctx context.Context, addr, dir string, ready chan<- string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	srv := smtp.NewServer(&backend{dir: dir})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 10 << 20
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("mailsink: listening on %s, writing to %s\n", l.Addr(), dir)
	if ready != nil {
		ready <- l.Addr().String()
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && ctx.Err() == nil {
		return err
	}
	return nil
}

type backend struct {
	dir string
	n   atomic.Int64
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct {
	b        *backend
	from     string
	rcpt     []string
	received time.Time
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.received = from, time.Now()
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpt = append(s.rcpt, to)
	return nil
}

// Data writes the message with the envelope as the first lines, like an mbox "From " line.
func (s *session) Data(r io.Reader) error {
	name := fmt.Sprintf("%s-%06d.eml", s.received.UTC().Format("20060102T150405.000"), s.b.n.Add(1))
	f, err := os.Create(filepath.Join(s.b.dir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "X-Mailsink-From: %s\r\n", s.from)
	for _, to := range s.rcpt {
		fmt.Fprintf(f, "X-Mailsink-To: %s\r\n", to)
	}
	_, err = io.Copy(f, r)
	return err
}

func (s *session) Reset()        { s.from, s.rcpt = "", nil }
func (s *session) Logout() error { return nil }
