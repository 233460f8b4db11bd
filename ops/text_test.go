package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
	"github.com/node-switch/node-switch/power"
)

// A reason the inventory would refuse never reaches a hook's environment:
// every operation refuses it as bad input before its pre-hooks run, and
// nothing changes.
func TestBadReasonRefusedBeforeHooks(t *testing.T) {
	st, _ := lab(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	must(t, os.WriteFile(filepath.Join(dir, "10-log"), []byte("#!/bin/sh\necho \"$NODE_SWITCH_EVENT\" >> "+ran+"\n"), 0o755))
	o, err := New(st, Settings{HooksDir: dir})
	must(t, err)
	ctx := context.Background()
	const bad = "x\nDEFAULT evil\x1b[2K"
	req := Request{Actor: nodestest.Actor, Range: "n1", Reason: bad}
	tests := []struct {
		name string
		do   func() error
	}{
		{"move", func() error { _, err := o.Move(ctx, MoveRequest{Request: req, To: "b"}); return err }},
		{"move once", func() error { _, err := o.Move(ctx, MoveRequest{Request: req, To: "b", Once: true}); return err }},
		{"mask", func() error { _, err := o.Mask(ctx, MaskRequest{Request: req, Mask: true}); return err }},
		{"reboot", func() error { _, err := o.Reboot(ctx, RebootRequest{Request: req}); return err }},
		{"power off", func() error { _, err := o.Power(ctx, PowerRequest{Request: req, Action: power.Off}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var te *nodes.TextError
			if !errors.Is(err, nodes.ErrInvalid) || !errors.As(err, &te) || !strings.Contains(err.Error(), "U+000A") {
				t.Fatalf("got %v, want the reason refused (TextError naming U+000A)", err)
			}
		})
	}
	if b, err := os.ReadFile(ran); err == nil {
		t.Errorf("hooks ran: %q", b)
	}
	n, err := st.Node(ctx, "n1")
	must(t, err)
	if n.Cluster != "a" || n.Masked || n.OnceCluster != "" {
		t.Errorf("n1 changed: %+v", n)
	}
}
