package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// siteBootRoot is the source system's TFTP root: one directory per dhcpd
// group, each with its own pxelinux.cfg/default, and one per-node file.
func siteBootRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tftpboot")
	for name, body := range map[string]string{
		"um64_linux/pxelinux.0":                        "PXELINUX",
		"um64_linux/pxelinux.cfg/default":              "DEFAULT sl63\nLABEL sl63\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img\n",
		"um64_linux/pxelinux.cfg/01-00-18-f3-4e-5e-21": "DEFAULT rescue\nLABEL rescue\n  KERNEL vmlinuz\n  APPEND single\n",
		"um64_win/pxelinux.0":                          "PXELINUX",
		"um64_win/pxelinux.cfg/default":                "DEFAULT local\nLABEL local\n  LOCALBOOT 0\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestImportKeepsSiteBooting: importing the source system's dhcpd.conf with
// its boot root gives each group a profile of kind files; render then shows
// every node its old file (its own where it has one), a move switches it to
// the other group's, and export, import, export gives the same text.
func TestImportKeepsSiteBooting(t *testing.T) {
	root := siteBootRoot(t)
	db := filepath.Join(t.TempDir(), "inv.db")
	dry := mustRun(t, db, "import", "dhcpd", um64Conf, "--boot-root", root, "--dry-run")
	for _, want := range []string{
		"note: cluster um64_win: found um64_win/pxelinux.cfg/default in boot root " + root + ": profile um64_win (kind files) serves them as they are (--kind um64_win=linux to change)",
		"note: cluster um64_linux: found um64_linux/pxelinux.cfg/default and 1 per-node file (um64_linux/pxelinux.cfg/01-00-18-f3-4e-5e-21) in boot root " + root + ": profile um64_linux (kind files) serves them as they are",
	} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run lacks %q:\n%s", want, dry)
		}
	}
	if out := mustRun(t, db, "node", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("--dry-run imported nodes: %s", out)
	}
	mustRun(t, db, "import", "dhcpd", um64Conf, "--boot-root", root)
	if out := mustRun(t, db, "profile", "show", "um64_linux"); !strings.Contains(out, "files") || !strings.Contains(out, "um64_linux/pxelinux.cfg/") {
		t.Errorf("profile show:\n%s", out)
	}
	site := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, c := range []struct{ node, want string }{
		{"umu20", site("um64_linux/pxelinux.cfg/default")},
		{"umu21", site("um64_linux/pxelinux.cfg/01-00-18-f3-4e-5e-21")},
		{"umu18", site("um64_win/pxelinux.cfg/default")},
	} {
		if got := mustRun(t, db, "render", c.node, "--boot-root", root); got != c.want {
			t.Errorf("render %s = %q, want the site's file %q", c.node, got, c.want)
		}
	}
	mustRun(t, db, "move", "umu20", "--to", "um64_win", "--boot-root", root)
	if got := mustRun(t, db, "render", "umu20", "--boot-root", root); got != site("um64_win/pxelinux.cfg/default") {
		t.Errorf("render umu20 after the move = %q", got)
	}

	dir := t.TempDir()
	first := filepath.Join(dir, "first.conf")
	mustRun(t, db, "export", "dhcpd", "-o", first)
	src, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "# node-switch cluster=um64_linux profile=um64_linux kind=files files=um64_linux\n") {
		t.Errorf("export lacks the files annotation:\n%s", src)
	}
	// The annotation alone carries the kind: no boot root at hand.
	db2 := filepath.Join(dir, "b.db")
	mustRun(t, db2, "import", "dhcpd", first, "--boot-root", filepath.Join(dir, "none"))
	again := headerRE.ReplaceAllString(mustRun(t, db2, "export", "dhcpd"), "")
	if want := headerRE.ReplaceAllString(string(src), ""); again != want {
		t.Errorf("export, import, export differs:\n%s\n---\n%s", want, again)
	}
}

// TestImportWithoutSiteConfigs says, per group, where it looked and what the
// profile then lacks.
func TestImportWithoutSiteConfigs(t *testing.T) {
	root := t.TempDir()
	db := filepath.Join(t.TempDir(), "inv.db")
	out := mustRun(t, db, "import", "dhcpd", um64Conf, "--boot-root", root, "--dry-run")
	want := "note: cluster um64_linux: profile um64_linux boots Linux but has no kernel yet: set one with 'profile set um64_linux --kernel FILE --initrd FILE' before its nodes boot (--kind um64_linux=localdisk to change); no pxelinux configs of the site's in " + filepath.Join(root, "um64_linux/pxelinux.cfg")
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	out = mustRun(t, db, "import", "dhcpd", um64Conf, "--boot-root", filepath.Join(root, "missing"), "--dry-run")
	if !strings.Contains(out, "the site's own boot configs were not looked for") {
		t.Errorf("a missing boot root is not reported:\n%s", out)
	}
}
