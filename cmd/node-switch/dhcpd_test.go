package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportSite: a real site's file (see dhcpdconf's TestSiteFixture)
// imports, every skipped statement is listed in the output, and --dry-run
// lists the same and changes nothing.
func TestImportSite(t *testing.T) {
	conf := filepath.Join("..", "..", "testdata", "dhcpd-site", "dhcpd.conf")
	db := filepath.Join(t.TempDir(), "inv.db")
	dry := mustRun(t, db, "import", "dhcpd", conf, "--name-map", "lab_win=windows", "--dry-run")
	if out := mustRun(t, db, "node", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("--dry-run imported nodes: %s", out)
	}
	real := mustRun(t, db, "import", "dhcpd", conf, "--name-map", "lab_win=windows")
	dryLines, realLines := strings.Split(strings.TrimSpace(dry), "\n"), strings.Split(strings.TrimSpace(real), "\n")
	if strings.Join(dryLines[:len(dryLines)-1], "\n") != strings.Join(realLines[:len(realLines)-1], "\n") {
		t.Errorf("--dry-run notes differ from the import's:\n%s\n---\n%s", dry, real)
	}
	for _, want := range []string{
		"skipped " + conf + `:41: class "pxe" { ... }: classes are not imported; boot file comes from the node's cluster`,
		"skipped " + conf + ":68: pool { ... }: node-switch serves reservations only, no dynamic pool",
		"skipped " + filepath.Join(filepath.Dir(conf), "linux-hosts.conf") + `:7: ddns-hostname "lin03": node-switch does no dynamic DNS updates`,
		"note: cluster lab_linux: profile lab_linux boots Linux but has no kernel yet: set one with 'profile set lab_linux --kernel FILE --initrd FILE' before its nodes boot (--kind lab_linux=localdisk to change)",
	} {
		if !strings.Contains(real, want+"\n") {
			t.Errorf("import output lacks %q:\n%s", want, real)
		}
	}
	if last := dryLines[len(dryLines)-1]; last != "would import 6 nodes (1 masked) in 2 clusters, 2 subnets, 0 NFS roots from "+conf+"; 20 statements skipped (dry run: nothing changed)" {
		t.Errorf("dry run summary = %q", last)
	}
	if last := realLines[len(realLines)-1]; !strings.HasPrefix(last, "imported 6 nodes (1 masked) in 2 clusters, 2 subnets, 0 NFS roots from "+conf+"; 20 statements skipped (logbook #") {
		t.Errorf("import summary = %q", last)
	}
	status := mustRun(t, db, "status")
	for _, want := range []string{"lab_linux  lab_linux  linux      lin[01-03]  3", "windows    windows    localdisk  win[01-02]  2"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
}

// TestImportFlagsMatch: --name-map and --kind naming no group or cluster of
// the file fail the import, which then imports nothing.
func TestImportFlagsMatch(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--name-map", "um64_wn=windows"}, "--name-map um64_wn=windows: no group or host has a boot file in that directory"},
		{[]string{"--name-map", "um64_win=windows", "--kind", "um64_win=linux"}, "--kind um64_win=linux: no cluster of that name (clusters: windows, um64_linux)"},
	} {
		db := filepath.Join(t.TempDir(), "inv.db")
		_, errs, st := run(t, db, append([]string{"import", "dhcpd", um64Conf}, tt.args...)...)
		if st == 0 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "nothing imported") {
			t.Errorf("import %v: exit %d, stderr %q, want %q", tt.args, st, errs, tt.want)
		}
		if out := mustRun(t, db, "node", "list", "--json"); strings.TrimSpace(out) != "[]" {
			t.Errorf("a failed import left nodes: %s", out)
		}
	}
}

// TestExportImportNFSRoot: an inventory with an nfsroot profile exports to a
// file dhcpd accepts, imports into a fresh inventory, and exports again to
// the same text.
func TestExportImportNFSRoot(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	mustRun(t, db, "nfsroot", "add", "lab", "--server", "10.20.0.1", "--export", "/srv/nfsroot/lab",
		"--kernel", "lab/vmlinuz-6.1.0-18-amd64", "--initrd", "lab/initrd img", "--kernel-version", "6.1.0-18-amd64")
	mustRun(t, db, "profile", "add", "diskless", "--kind", "nfsroot", "--nfsroot", "lab")
	mustRun(t, db, "cluster", "add", "lab", "--profile", "diskless")
	mustRun(t, db, "node", "add", "n1", "--mac", "00:11:22:33:44:55", "--ip", "10.20.0.11", "--cluster", "lab", "--force")
	mustRun(t, db, "node", "add", "n2", "--mac", "00:11:22:33:44:56", "--ip", "10.20.0.12", "--cluster", "lab", "--force")
	mustRun(t, db, "mask", "n2", "--reason", "fan")
	first := filepath.Join(dir, "first.conf")
	mustRun(t, db, "export", "dhcpd", "-o", first)
	dhcpdAccepts(t, first)
	db2 := filepath.Join(dir, "b.db")
	mustRun(t, db2, "import", "dhcpd", first, "--force")
	again := headerRE.ReplaceAllString(mustRun(t, db2, "export", "dhcpd"), "")
	src, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if want := headerRE.ReplaceAllString(string(src), ""); again != want {
		t.Errorf("export, import, export differs:\n%s\n---\n%s", want, again)
	}
	// The catalog entry comes back unchecked, as after 'nfsroot add'.
	if out := mustRun(t, db2, "nfsroot", "list", "--json"); !strings.Contains(out, `"initrd": "lab/initrd img"`) || !strings.Contains(out, `"check_ok": false`) {
		t.Errorf("nfsroot list after import: %s", out)
	}
}

// TestImportSkipsDynamic: what dhcpd serves from a pool is skipped with a
// note, and the reservations next to it are imported.
func TestImportSkipsDynamic(t *testing.T) {
	tests := []struct{ name, conf, want string }{
		{"pool", "subnet 10.0.0.0 netmask 255.255.255.0 {\npool { range 10.0.0.10 10.0.0.20; }\n}\n", "bad.conf:2: pool { ... }: node-switch serves reservations only, no dynamic pool"},
		{"no fixed address", "group {\nfilename \"a/pxelinux.0\";\nhost n2 {hardware ethernet 00:18:F3:4E:5D:5a; }\n}\n", "bad.conf:3: host n2: no fixed-address: node-switch serves reservations only, no dynamic pool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "bad.conf")
			os.WriteFile(conf, []byte(tt.conf+"group {\nfilename \"a/pxelinux.0\";\nhost n1 {hardware ethernet 00:18:F3:4E:5D:59; fixed-address 10.0.0.1; }\n}\n"), 0o644)
			db := filepath.Join(dir, "inv.db")
			out := mustRun(t, db, "import", "dhcpd", conf)
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
			if nodes := mustRun(t, db, "node", "list"); !strings.Contains(nodes, "n1") || strings.Contains(nodes, "n2") {
				t.Errorf("nodes after import:\n%s", nodes)
			}
		})
	}
}
