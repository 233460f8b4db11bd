package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/web"
)

func init() {
	registerService(service{
		name: "web",
		flags: func() []cli.Flag {
			return []cli.Flag{
				&cli.StringFlag{Name: "web-listen", EnvVars: []string{"NODE_SWITCH_WEB_LISTEN"},
					Usage: "HTTPS address of the web console (e.g. :8443); empty (the default) disables it"},
				&cli.StringFlag{Name: "web-cert", EnvVars: []string{"NODE_SWITCH_WEB_CERT"},
					Usage: "the site's certificate (PEM) for the web console (default: web_cert.pem beside the inventory, self-signed on first start)"},
				&cli.StringFlag{Name: "web-key", EnvVars: []string{"NODE_SWITCH_WEB_KEY"},
					Usage: "the key of --web-cert (default: web_key.pem beside the inventory)"},
			}
		},
		// Reboots asked from the console use the daemon's settings.
		sharedFlags: func() [][]cli.Flag { return [][]cli.Flag{rebootFlags(), wakeFlags()} },
		start:       startWeb,
	})
}

func startWeb(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (func() error, error) {
	addr := c.String("web-listen")
	if addr == "" {
		return nil, nil
	}
	cert, err := webCert(c, st, log)
	if err != nil {
		return nil, err
	}
	settings, err := opsSettings(c)
	if err != nil {
		return nil, err
	}
	o, err := ops.New(st, settings)
	if err != nil {
		return nil, err
	}
	httpPort := 0
	if _, p, err := net.SplitHostPort(c.String("http-listen")); err == nil {
		httpPort, _ = strconv.Atoi(p)
	}
	srv, err := web.New(web.Config{Store: st, Ops: o, Log: log, HTTPPort: httpPort})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--web-listen %s: %w", addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("web console listening", "addr", "https://"+ln.Addr().String(), "cert_sha256", web.CertFingerprint(cert.Certificate[0]))
	return func() error {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go srv.Watch(wctx)
		return runUntil(ctx, func() error { return hs.ServeTLS(ln, "", "") }, func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			// Live maps hold their streams open: close rather than wait.
			if err := hs.Shutdown(sctx); err != nil {
				hs.Close()
			}
		})
	}, nil
}

// webCert is the site's certificate when --web-cert and --web-key name
// one, else the self-signed one beside the inventory (made on first use,
// its fingerprint logged for operators to compare in their browser).
func webCert(c *cli.Context, st *nodes.Store, log *slog.Logger) (tls.Certificate, error) {
	certFile, keyFile := c.String("web-cert"), c.String("web-key")
	if (certFile == "") != (keyFile == "") {
		return tls.Certificate{}, usageError("--web-cert and --web-key go together: give both, or neither for a self-signed certificate")
	}
	if certFile != "" {
		return web.LoadCert(certFile, keyFile)
	}
	dir := st.Dir()
	certFile, keyFile = filepath.Join(dir, "web_cert.pem"), filepath.Join(dir, "web_key.pem")
	cert, created, err := web.LoadOrCreateCert(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	if created {
		log.Info("generated a self-signed web certificate: compare its fingerprint when your browser first asks", "path", certFile,
			"cert_sha256", web.CertFingerprint(cert.Certificate[0]))
	}
	return cert, nil
}
