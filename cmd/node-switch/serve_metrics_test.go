package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// TestMetricsListen: a bad --metrics-listen is a usage error naming the
// flag; a good one serves /metrics with the inventory's node counts, and
// nothing else. (No environment case: urfave/cli keeps a value read from the
// environment in the shared flag, which would leak into later serve tests;
// for the same reason --debug-listen is given, empty.)
func TestMetricsListen(t *testing.T) {
	db := filepath.Join(t.TempDir(), "inventory.db")
	newEnv := func(errb io.Writer) *Env {
		return &Env{Stdout: io.Discard, Stderr: errb, Stdin: strings.NewReader(""), Actor: nodes.Actor{Name: "tester", Channel: nodes.ChannelCLI, From: "local"}}
	}
	base := []string{"node-switch", "--db", db, "serve", "--tftp-listen=", "--http-listen=", "--ssh-listen=", "--debug-listen="}
	for _, addr := range []string{"9469", "10.0.0.1", "localhost"} {
		t.Run(addr, func(t *testing.T) {
			args := append(append([]string{}, base...), "--metrics-listen", addr)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a wrongly accepted address returns at once with 0
			var errb bytes.Buffer
			env := newEnv(&errb)
			if status := exitStatus(env, Run(ctx, env, args)); status != 2 || !strings.Contains(errb.String(), "--metrics-listen") {
				t.Errorf("exit %d, want 2 naming --metrics-listen; stderr:\n%s", status, errb.String())
			}
		})
	}

	t.Run("serves", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		var errb bytes.Buffer
		env := newEnv(&errb)
		go func() {
			done <- exitStatus(env, Run(ctx, env, append(append([]string{}, base...), "--metrics-listen", addr)))
		}()
		defer func() { cancel(); <-done }()
		var body string
		for range 200 {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		for _, want := range []string{"node_switch_inventory_up 1", "node_switch_dhcp_packets_total{", "go_goroutines"} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q:\n%.2000s", want, body)
			}
		}
		if resp, err := http.Get("http://" + addr + "/debug/pprof/"); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("/debug/pprof/ on the metrics listener: %v %v, want 404", resp, err)
		}
	})
}
