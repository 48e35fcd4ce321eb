package main

import (
	"context"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMailsink_WritesEveryMessage(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", dir, ready) }()
	addr := <-ready
	msg := "Subject: Your booking\r\n\r\nSee you at 19:00.\r\n"
	for range 2 {
		if err := smtp.SendMail(addr, nil, "no-reply@reservo.local", []string{"ana@example.com"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 2 {
		t.Fatalf("%d files; want 2", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil || !strings.Contains(string(b), "X-Mailsink-To: ana@example.com") || !strings.Contains(string(b), "See you at 19:00.") {
		t.Fatalf("message file:\n%s (%v)", b, err)
	}
}
