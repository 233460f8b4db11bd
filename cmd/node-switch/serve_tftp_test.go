package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

// TestTFTPCacheFlag: a negative cache size is bad usage, named, before
// anything listens.
func TestTFTPCacheFlag(t *testing.T) {
	dir := t.TempDir()
	var errb bytes.Buffer
	env := &Env{Stdout: io.Discard, Stderr: &errb, Stdin: strings.NewReader(""), Actor: nodes.Actor{Name: "tester", Channel: nodes.ChannelCLI, From: "local"}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	status := exitStatus(env, Run(ctx, env, []string{"node-switch", "--db", filepath.Join(dir, "inventory.db"), "serve",
		"--boot-root", dir, "--tftp-listen", "127.0.0.1:0", "--tftp-cache-mib", "-1",
		"--http-listen=", "--ssh-listen=", "--debug-listen="}))
	if status != 2 || !strings.Contains(errb.String(), "--tftp-cache-mib -1") {
		t.Errorf("serve --tftp-cache-mib -1: exit %d, want 2 naming the flag; stderr:\n%s", status, errb.String())
	}
}
