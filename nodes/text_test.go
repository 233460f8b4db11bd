package nodes

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	tests := []struct {
		name  string
		field string
		in    string
		err   string // "" = accepted
	}{
		{"plain", FieldReason, "drain for the kernel update, ticket #4711", ""},
		{"empty", FieldReason, "", ""},
		{"accents and other scripts", FieldReason, "réparation du nœud, 修理, ремонт", ""},
		{"emoji", FieldDescription, "GPU nodes 🚀", ""},
		{"backslash and quotes", FieldReason, `C:\temp "x" 'y' $HOME`, ""},
		{"line feed", FieldReason, "x\nDEFAULT evil", "reason: character U+000A (line feed) at byte 1 (character 2)"},
		{"carriage return", FieldReason, "ok\r", "character U+000D (carriage return) at byte 2 (character 3)"},
		{"tab", FieldReason, "a\tb", "character U+0009 (tab) at byte 1"},
		{"NUL", FieldReason, "\x00", "character U+0000 (NUL) at byte 0 (character 1)"},
		{"escape", FieldReason, "é\x1b[2K", "character U+001B (escape) at byte 2 (character 2)"},
		{"other C0", FieldComment, "bell\x07", "comment: character U+0007 (control character) at byte 4"},
		{"DEL", FieldReason, "x\x7f", "character U+007F (delete) at byte 1"},
		{"C1 NEL", FieldReason, "a\u0085b", "character U+0085 (next line) at byte 1"},
		{"C1 CSI", FieldReason, "a\u009b2K", "character U+009B (control sequence introducer)"},
		{"other C1", FieldReason, "\u0090", "character U+0090 (C1 control character)"},
		{"line separator", FieldReason, "a\u2028b", "character U+2028 (line separator)"},
		{"bidi override", FieldDescription, "abc\u202edcba", "character U+202E (bidirectional control) at byte 3 (character 4)"},
		{"bidi isolate", FieldDescription, "\u2066x", "character U+2066 (bidirectional control)"},
		{"not UTF-8", FieldReason, "ab\xffc", "reason: byte 0xFF at byte 2 (character 3) is not UTF-8"},
		{"lone CSI byte", FieldReason, "\x9b2K", "byte 0x9B at byte 0 (character 1) is not UTF-8"},
		{"U+FFFD itself is text", FieldReason, "\uFFFD", ""},
		{"reason at its cap", FieldReason, strings.Repeat("é", 512), ""},
		{"reason over its cap", FieldReason, strings.Repeat("a", 1025), "reason is 1025 bytes long, at most 1024 are allowed"},
		{"description over its cap", FieldDescription, strings.Repeat("a", 257), "description is 257 bytes long, at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckText(tt.field, tt.in)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("CheckText(%q) = %v, want accepted", tt.in, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("CheckText(%q) = %v, want an error containing %q", tt.in, err, tt.err)
			}
			var te *TextError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &te) || te.Field != tt.field {
				t.Fatalf("CheckText(%q) = %#v: want a *TextError for %q that is ErrInvalid (exit 2)", tt.in, err, tt.field)
			}
		})
	}
}

func TestCheckLines(t *testing.T) {
	tests := []struct {
		in  string
		err string
	}{
		{"DEFAULT linux\nLABEL linux\n\tKERNEL {{file \"vmlinuz\"}}\r\n", ""},
		{"DEFAULT x\n\x1b[2K", "template: character U+001B (escape) at byte 10 (character 11)"},
		{"a\u2028b", "U+2028"},
		{strings.Repeat("a", 64<<10+1), "template is 65537 bytes long, at most 65536"},
	}
	for _, tt := range tests {
		err := CheckLines(FieldTemplate, tt.in)
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CheckLines(%.40q) = %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, accents é and 修理", "plain text, accents é and 修理"},
		{"x\nDEFAULT evil\r\n\tKERNEL", `x\nDEFAULT evil\r\n\tKERNEL`},
		{"\x1b[2K\x1b[1Ahidden", `\x1b[2K\x1b[1Ahidden`},
		{"\x00\x7f", `\x00\x7f`},
		{"a\u009bb\u0085", `a\u009bb\u0085`},
		{"a\u2028\u202eb", `a\u2028\u202eb`},
		{"ab\xff\x9b", `ab\xff\x9b`},
		{`back\slash`, `back\slash`},
	}
	for _, tt := range tests {
		got := Escape(tt.in)
		if got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if err := CheckText(FieldResult, got); err != nil {
			t.Errorf("Escape(%q) = %q, which CheckText refuses: %v", tt.in, got, err)
		}
	}
}

func TestEscapeCut(t *testing.T) {
	long := strings.Repeat("é", 20<<10) // 40 KiB, over the result cap
	got := EscapeCut(FieldResult, long)
	if len(got) > TextCap(FieldResult) || !strings.HasSuffix(got, " ...(cut)") {
		t.Fatalf("EscapeCut: %d bytes ending %q, want at most %d ending in the cut mark", len(got), got[len(got)-12:], TextCap(FieldResult))
	}
	if err := CheckText(FieldResult, got); err != nil {
		t.Fatalf("EscapeCut cut inside a character: %v", err)
	}
	if got := EscapeCut(FieldResult, "short\n"); got != `short\n` {
		t.Fatalf("EscapeCut(short) = %q", got)
	}
}

// TestTextAtTheDoor writes free text with a line break through every store
// method that takes some: each must refuse it as bad input and change
// nothing, whatever front end called.
func TestTextAtTheDoor(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t)
	addNodes(t, st, "n", "linux", 2)
	const evil = "x\nDEFAULT evil\nLABEL evil\n  KERNEL ::rescue/vmlinuz\n  APPEND init=/bin/sh"
	badActor := Actor{Name: "eve\x1b[2K", Channel: ChannelSSH, From: "192.0.2.1"}
	before, err := st.Log(ctx, LogFilter{})
	must(t, err)
	tests := []struct {
		name string
		do   func() error
	}{
		{"move reason", func() error {
			_, err := st.Move(ctx, testActor, MoveRequest{Range: "n1", To: "windows", Reason: evil})
			return err
		}},
		{"move dry run", func() error {
			_, err := st.Move(ctx, testActor, MoveRequest{Range: "n1", To: "windows", Reason: evil, DryRun: true})
			return err
		}},
		{"move actor", func() error {
			_, err := st.Move(ctx, badActor, MoveRequest{Range: "n1", To: "windows"})
			return err
		}},
		{"move origin", func() error {
			_, err := st.Move(ctx, Actor{Name: "eve", Channel: ChannelSSH, From: "a\u009bb"}, MoveRequest{Range: "n1", To: "windows"})
			return err
		}},
		{"mask reason", func() error {
			_, err := st.SetMask(ctx, testActor, MaskRequest{Range: "n1", Mask: true, Reason: "\x1b]0;pwned\x07"})
			return err
		}},
		{"once reason", func() error {
			_, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n1", To: "windows", Reason: evil})
			return err
		}},
		{"node remove reason", func() error {
			_, err := st.RemoveNodes(ctx, testActor, "n2", evil)
			return err
		}},
		{"profile set reason", func() error {
			_, err := st.UpdateProfile(ctx, testActor, "linux", evil, func(*Profile) error { return nil })
			return err
		}},
		{"profile description", func() error {
			_, err := st.UpdateProfile(ctx, testActor, "linux", "", func(p *Profile) error { p.Description = "a\nb"; return nil })
			return err
		}},
		{"profile append", func() error {
			_, err := st.UpdateProfile(ctx, testActor, "linux", "", func(p *Profile) error { p.Append = "quiet\x00"; return nil })
			return err
		}},
		{"profile template", func() error {
			return st.AddProfile(ctx, testActor, Profile{Name: "t", Kind: KindTemplate, TemplateBIOS: "DEFAULT x\n\x1b[2K"})
		}},
		{"cluster description", func() error {
			return st.AddCluster(ctx, testActor, Cluster{Name: "c2", Profile: "linux", Description: "two\nlines"})
		}},
		{"ssh key comment", func() error {
			_, err := st.AddSSHKey(ctx, testActor, SSHKey{Fingerprint: "SHA256:abc", PublicKey: "ssh-ed25519 AAAA", Role: RoleRead, Comment: "me\x1b[1A"})
			return err
		}},
		{"set cluster profile reason", func() error {
			return st.SetClusterProfile(ctx, testActor, "linux", "windows", evil)
		}},
		{"import reason", func() error {
			_, err := st.Import(ctx, testActor, Inventory{}, evil)
			return err
		}},
		{"import mask reason", func() error {
			_, err := st.Import(ctx, testActor, Inventory{Nodes: []Node{{Name: "n9", MAC: "02:00:00:00:00:99", IP: netip.MustParseAddr("10.9.0.9"), Cluster: "linux", Masked: true, MaskReason: evil}}}, "")
			return err
		}},
		{"import cluster description", func() error {
			_, err := st.Import(ctx, testActor, Inventory{Clusters: []Cluster{{Name: "c3", Profile: "linux", Description: "\u202e"}}}, "")
			return err
		}},
		{"nfsroot options", func() error {
			return st.AddNFSRoot(ctx, testActor, NFSRoot{Name: "r", Server: "10.0.0.1", Export: "/srv/r", Kernel: "k", Initrd: "i", Options: "vers=3\n"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var te *TextError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &te) {
				t.Fatalf("got %v, want a refusal of the text (TextError, ErrInvalid)", err)
			}
		})
	}
	after, err := st.Log(ctx, LogFilter{})
	must(t, err)
	if len(after) != len(before) {
		t.Errorf("refusals wrote %d logbook entries", len(after)-len(before))
	}
	ns, err := st.Nodes(ctx, "n[1-2]")
	must(t, err)
	for _, n := range ns {
		if n.Cluster != "linux" || n.Masked || n.OnceCluster != "" {
			t.Errorf("%s changed: %+v", n.Name, n)
		}
	}
	p, err := st.Profile(ctx, "linux")
	must(t, err)
	if p.Description != "" || p.Append != "" {
		t.Errorf("profile linux changed: %+v", p)
	}
}

// TestRecordEscapes: what the logbook records rather than asks for (a
// command line as an SSH client sent it, a hook's output) is kept, escaped,
// never lost to a refusal.
func TestRecordEscapes(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t)
	id, err := st.Record(ctx, Actor{Name: "key SHA256:x (me\x1b[2K)", Channel: ChannelSSH, From: "192.0.2.1"},
		Event{Action: ActionSSHCommand, Reason: "move n1 --to rescue --reason 'x\nDEFAULT evil'", Result: "hook: exit 1: line one\nline two\x1b[1A"})
	must(t, err)
	e, err := st.Event(ctx, id)
	must(t, err)
	want := Event{Actor: `key SHA256:x (me\x1b[2K)`, Reason: `move n1 --to rescue --reason 'x\nDEFAULT evil'`, Result: `hook: exit 1: line one\nline two\x1b[1A`}
	if e.Actor != want.Actor || e.Reason != want.Reason || e.Result != want.Result {
		t.Fatalf("recorded %q / %q / %q, want %q / %q / %q", e.Actor, e.Reason, e.Result, want.Actor, want.Reason, want.Result)
	}
}

func TestEscapeLines(t *testing.T) {
	in := "DEFAULT x\nLABEL x\n\tKERNEL k\r\n\x1b[2K"
	if got, want := EscapeLines(in), "DEFAULT x\nLABEL x\n\tKERNEL k\\r\n\\x1b[2K"; got != want {
		t.Fatalf("EscapeLines(%q) = %q, want %q", in, got, want)
	}
}
