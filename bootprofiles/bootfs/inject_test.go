package bootfs

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// A template profile that shows free text from the inventory cannot emit a
// new line from it: the stored text here was written around the check (as
// text from before it existed), with line breaks that would add a boot
// entry, and escape sequences, in every free-text field a template sees.
func TestTemplateCannotEmitStoredLineBreaks(t *testing.T) {
	ctx := context.Background()
	st := nodestest.Open(t)
	const tmpl = "DEFAULT rescue\nLABEL rescue\n  KERNEL {{file \"rescue/vmlinuz\"}}\n" +
		"# reason: {{.Event.Reason}}\n# actor: {{.Event.Actor}} from {{.Event.Origin}}\n# result: {{.Event.Result}}\n" +
		"# mask: {{.Node.MaskReason}}\n# cluster: {{.Cluster.Description}}\n# profile: {{.Profile.Description}}\n"
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "rescue", Kind: nodes.KindTemplate, TemplateBIOS: tmpl}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "rescue", Profile: "rescue"}))
	ip := netip.MustParseAddr("10.99.0.60")
	_, err := st.AddNode(ctx, nodestest.Actor, nodes.Node{Name: "n1", MAC: "52:54:00:12:34:60", IP: ip, Cluster: "rescue"}, "")
	must(t, err)
	ch, err := st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "n1", Mask: true, Reason: "placeholder"})
	must(t, err)
	_, err = st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "n1", Mask: false})
	must(t, err)
	const evil = "x\nDEFAULT evil\nLABEL evil\n  KERNEL ::rescue/vmlinuz\n  APPEND init=/bin/sh"
	nodestest.Exec(t, st, `UPDATE events SET reason = ?, actor = ?, origin = ?, result = ? WHERE id = ?`,
		evil, "eve\n\x1b[2K", "1.2.3.4\r\nLABEL o", "done\nLABEL r", ch.Event)
	nodestest.Exec(t, st, `UPDATE nodes SET event = ?, mask_reason = ? WHERE name = 'n1'`, ch.Event, "m\nLABEL m")
	nodestest.Exec(t, st, `UPDATE clusters SET description = ? WHERE name = 'rescue'`, "c\u2028\nLABEL c")
	nodestest.Exec(t, st, `UPDATE profiles SET description = ? WHERE name = 'rescue'`, "p\nLABEL p\x1b]0;t\x07")

	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "pxelinux.0"), []byte("PXELINUX"), 0o644))
	r, err := os.OpenRoot(root)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	f := &FS{Root: r, Inv: st, Channel: nodes.ChannelTFTP}
	got, err := read(t, f, "pxelinux.cfg/01-52-54-00-12-34-60", ip)
	must(t, err)

	var labels []string
	for _, line := range strings.Split(got, "\n") {
		if strings.Contains(line, "\x1b") || strings.Contains(line, "\r") || strings.Contains(line, "\u2028") {
			t.Errorf("control character in rendered line %q", line)
		}
		if w := strings.Fields(line); len(w) > 0 && (w[0] == "DEFAULT" || w[0] == "LABEL") {
			labels = append(labels, line)
		}
	}
	if want := []string{"DEFAULT rescue", "LABEL rescue"}; strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Errorf("directives %q, want only %q: free text became boot entries in\n%s", labels, want, got)
	}
	if !strings.Contains(got, `# reason: x\nDEFAULT evil\nLABEL evil\n  KERNEL ::rescue/vmlinuz\n  APPEND init=/bin/sh`+"\n") {
		t.Errorf("the reason is not shown escaped on its own line:\n%s", got)
	}
}
