package sshe2e

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestReasonInjectionRefused is issue 22's reproduction with a real
// client: an operate key sends, through OpenSSH, a move whose quoted reason
// holds line breaks that a template profile showing .Event.Reason would
// have turned into boot entries (DEFAULT evil, init=/bin/sh). The front
// door must refuse it as bad input (exit 2, the character named), change
// nothing, keep a record of the attempt, and the config the node is served
// must hold no trace of it.
func TestReasonInjectionRefused(t *testing.T) {
	netlab.Require(t, "ssh=openssh-client", "ssh-keygen=openssh-client")
	lab := netlab.New(t)
	bin := netlab.Binary(t)
	dir := t.TempDir()
	db := inventory(t, dir, 2, 0, netip.MustParseAddr("10.78.0.10"))
	func() {
		st, err := nodes.Open(db)
		must(t, err)
		defer st.Close()
		ctx := context.Background()
		// The documented template field that showed the reason raw.
		must(t, st.AddProfile(ctx, admin, nodes.Profile{Name: "rescue", Kind: nodes.KindTemplate,
			TemplateBIOS: "DEFAULT rescue\nLABEL rescue\n  KERNEL {{file \"rescue/vmlinuz\"}}\n  APPEND rescue\n# why: {{.Event.Reason}}\n"}))
		must(t, st.AddCluster(ctx, admin, nodes.Cluster{Name: "rescue", Profile: "rescue"}))
	}()

	operate := keygen(t, dir, "winhead", "-t", "ed25519")
	if out, errOut, code := nodeSwitch(t, bin, db, "ssh-key", "add", operate+".pub", "--role", "operate"); code != 0 {
		t.Fatalf("ssh-key add: %d %s %s", code, out, errOut)
	}
	out, errOut, code := nodeSwitch(t, bin, db, "ssh", "hostkey", "--generate", "--json")
	if code != 0 {
		t.Fatalf("ssh hostkey: %s", errOut)
	}
	var hk struct {
		PublicKey string `json:"public_key"`
	}
	must(t, json.Unmarshal([]byte(out), &hk))
	knownHosts := filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(knownHosts, []byte("[127.0.0.1]:2222 "+hk.PublicKey+"\n"), 0o600))

	head := lab.Namespace("head")
	srv := head.Start([]string{"NODE_SWITCH_HOOKS_DIR=" + filepath.Join(dir, "hooks.d")}, bin,
		append([]string{"--db", db, "serve", "--ssh-listen", "127.0.0.1:2222"}, onlySSH(t, bin)...)...)
	if !netlab.WaitFor(30*time.Second, func() bool { return srv.Exited() || strings.Contains(srv.Output(), "SSH front door listening") }) || srv.Exited() {
		t.Fatalf("serve did not start:\n%s", srv.Output())
	}
	ssh := func(command string) (string, string, int) {
		// One argument: OpenSSH sends it as the exec request's command
		// line, line breaks inside the single quotes included, as a
		// shell's $'...' hands them over.
		return run(t, head.Command("ssh", "-p", "2222", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+knownHosts, "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30", "-i", operate,
			"winhead@127.0.0.1", command))
	}
	render := func() string {
		t.Helper()
		out, errOut, code := nodeSwitch(t, bin, db, "render", "n01", "--firmware", "bios", "--http-port", "0")
		if code != 0 {
			t.Fatalf("render n01: exit %d: %s", code, errOut)
		}
		return out
	}
	events := func() []nodes.Event {
		t.Helper()
		st, err := nodes.Open(db)
		must(t, err)
		defer st.Close()
		evs, err := st.Log(context.Background(), nodes.LogFilter{})
		must(t, err)
		return evs
	}

	const evil = "x\nDEFAULT evil\nLABEL evil\n  KERNEL ::rescue/vmlinuz\n  APPEND init=/bin/sh"
	for _, tt := range []struct {
		name, command, want string
	}{
		{"line breaks in a move's reason", "move n01 --to rescue --reason '" + evil + "'",
			"reason: character U+000A (line feed) at byte 1 (character 2)"},
		{"terminal escapes in a mask's reason", "mask n01 --reason 'ok\x1b[2K\x1b[1A'",
			"reason: character U+001B (escape) at byte 2 (character 3)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(events())
			_, errOut, code := ssh(tt.command)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q: want exit 2 naming %q", code, errOut, tt.want)
			}
			nl, errOut, code := nodeSwitch(t, bin, db, "node", "list", "--json")
			if code != 0 {
				t.Fatal(errOut)
			}
			var ns []nodes.Node
			must(t, json.Unmarshal([]byte(nl), &ns))
			for _, n := range ns {
				if n.Cluster != "linux" || n.Masked || n.MaskReason != "" {
					t.Errorf("%s changed: %+v", n.Name, n)
				}
			}
			// Only the front door's record of the command, escaped.
			after := events()
			if len(after) != before+1 || after[len(after)-1].Action != nodes.ActionSSHCommand {
				t.Errorf("logbook after the refusal: %+v", after[before:])
			}
			if rec := after[len(after)-1]; strings.ContainsAny(rec.Reason, "\n\x1b") || rec.Result != "exit 2" {
				t.Errorf("record of the attempt: %+v", rec)
			}
			if cfg := render(); strings.Contains(cfg, "evil") || strings.Contains(cfg, "\x1b") {
				t.Errorf("n01's config holds the refused text:\n%s", cfg)
			}
		})
	}

	// The same move with a plain reason goes through, and its reason is
	// where the template put it: the refusal above was of the text alone.
	if _, errOut, code := ssh("move n01 --to rescue --reason 'rescue boot, ticket 42'"); code != 0 {
		t.Fatalf("plain move: exit %d: %s", code, errOut)
	}
	cfg := render()
	var directives []string
	for _, line := range strings.Split(cfg, "\n") {
		if w := strings.Fields(line); len(w) > 0 && (w[0] == "DEFAULT" || w[0] == "LABEL" || w[0] == "APPEND") {
			directives = append(directives, line)
		}
	}
	if !strings.Contains(cfg, "# why: rescue boot, ticket 42\n") || strings.Join(directives, "|") != "DEFAULT rescue|LABEL rescue|  APPEND rescue" {
		t.Fatalf("n01's config after the plain move (directives %q):\n%s", directives, cfg)
	}
}
