package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/staff"
	"github.com/reservo/reservo/user"
)

// staffPlane serves the staff plane (sign-in, the Web UI behind it, the codec server, the
// JWKS of Reservo's Temporal tokens) on RESERVO_STAFF_ADDR until ctx ends.
func staffPlane(ctx context.Context, cfg *config.Config, log *slog.Logger, db *postgres.DB) error {
	ui, err := url.Parse(cfg.TemporalUIURL)
	if err != nil {
		return fmt.Errorf("RESERVO_TEMPORAL_UI_URL: %w", err)
	}
	public, err := url.Parse(cfg.StaffPublicURL)
	if err != nil {
		return fmt.Errorf("RESERVO_STAFF_PUBLIC_URL: %w", err)
	}
	tcfg := temporalConfig(cfg, log, "", nil)
	signer, err := tcfg.Signer()
	if err != nil {
		return err
	}
	sc := staff.Config{UI: ui, PublicURL: public, Namespace: cfg.TemporalNamespace, Users: user.NewService(postgres.NewUserStore(db), time.Now),
		Signer: signer, SessionSecret: []byte(cfg.StaffSessionSecret), SessionTTL: cfg.StaffSessionTTL, Logger: log.With("component", "staff")}
	codec, err := tcfg.Codec()
	if err != nil {
		return err
	}
	if codec != nil {
		sc.Codec = codec
	}
	h, err := staff.New(sc)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: cfg.StaffAddr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("staff plane listening", "addr", cfg.StaffAddr, "url", cfg.StaffPublicURL, "web_ui", cfg.TemporalUIURL)
	select {
	case err := <-errc:
		return fmt.Errorf("staff plane: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("staff plane shutdown: %w", err)
	}
	return nil
}
