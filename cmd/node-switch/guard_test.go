package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

// guardLab is issue 18's lab: cluster lab-day (localdisk) with pc01, and
// lab-night on NFS root "lab", whose check failed, with pc02 (moved there
// with --force); root "lab5" was never checked. The profile "legacy" holds a
// broken template stored before templates were checked. $ROOT is a boot
// root holding linux/vmlinuz and linux/initrd.gz; $BAD and $GOOD are
// template files.
func guardLab(t *testing.T) (db string, vars *strings.Replacer) {
	t.Helper()
	dir := t.TempDir()
	db = filepath.Join(dir, "inventory.db")
	root := filepath.Join(dir, "boot")
	if err := os.MkdirAll(filepath.Join(root, "linux"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join(root, "linux/vmlinuz"):   "kernel",
		filepath.Join(root, "linux/initrd.gz"): "initrd",
		filepath.Join(dir, "bad.tmpl"):         "DEFAULT x\nLABEL x\n  KERNEL {{.Bogus\n",
		filepath.Join(dir, "good.tmpl"):        "DEFAULT x\nLABEL x\n  KERNEL {{file \"linux/vmlinuz\"}}\n  APPEND host={{.Node.Name}}\n",
	}
	for f, s := range files {
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"nfsroot", "add", "lab", "--server", "10.0.0.1", "--export", "/srv/lab", "--kernel", "lab/vmlinuz", "--initrd", "lab/initrd.img"},
		{"nfsroot", "add", "lab5", "--server", "10.0.0.1", "--export", "/srv/lab5", "--kernel", "lab/vmlinuz", "--initrd", "lab/initrd.img"},
		{"profile", "add", "lab-day", "--kind", "localdisk"},
		{"profile", "add", "lab-night", "--kind", "nfsroot", "--nfsroot", "lab"},
		{"cluster", "add", "lab-day", "--profile", "lab-day"},
		{"cluster", "add", "lab-night", "--profile", "lab-night"},
		{"node", "add", "pc01", "--mac", "52:54:00:00:00:01", "--ip", "10.0.0.11", "--cluster", "lab-day"},
		{"node", "add", "pc02", "--mac", "52:54:00:00:00:02", "--ip", "10.0.0.12", "--cluster", "lab-day"},
		{"move", "pc02", "--to", "lab-night", "--force"},
	} {
		mustRun(t, db, args...)
	}
	// The check itself needs an NFS server (nfsroot's tests have one); its
	// recorded outcome is all the guard reads. The broken template predates
	// the CLI's checks, so it goes in through the store.
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := nodes.Actor{Name: "tester", Channel: nodes.ChannelCLI}
	if err := st.RecordNFSRootCheck(ctx, a, "lab", false, "root /srv/lab has no /sbin/init"); err != nil {
		t.Fatal(err)
	}
	if err := st.AddProfile(ctx, a, nodes.Profile{Name: "legacy", Kind: nodes.KindTemplate, TemplateUEFI: "linux {{.Bogus}}\n"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	return db, strings.NewReplacer("$ROOT", root, "$BAD", filepath.Join(dir, "bad.tmpl"), "$GOOD", filepath.Join(dir, "good.tmpl"))
}

// inventoryState is everything that decides what a node boots.
func inventoryState(t *testing.T, db string) string {
	t.Helper()
	var b strings.Builder
	for _, cmd := range [][]string{{"node", "list", "--json"}, {"cluster", "list", "--json"}, {"profile", "list", "--json"}, {"nfsroot", "list", "--json"}} {
		b.WriteString(mustRun(t, db, cmd...))
	}
	return b.String()
}

func TestProfileAndBootGuards(t *testing.T) {
	const failed = "cluster lab-night boots NFS root lab, whose last check failed (root /srv/lab has no /sbin/init): fix it and run 'node-switch nfsroot check lab', or pass --force: refused"
	tests := []struct {
		name   string
		args   string
		status int
		// stderr must contain want ("" for nothing in particular).
		want string
	}{
		// Task A: every path that points nodes at a root runs the guard.
		{"cluster set onto failed root", "cluster set lab-day --profile lab-night", 1,
			"cluster lab-day: set profile lab-night: cluster lab-day boots NFS root lab, whose last check failed"},
		{"cluster set onto failed root forced", "cluster set lab-day --profile lab-night --force", 0, ""},
		{"profile set kind nfsroot on failed root", "profile set lab-day --kind nfsroot --nfsroot lab", 1,
			"set profile lab-day: cluster lab-day boots NFS root lab, whose last check failed"},
		{"profile set kind nfsroot forced", "profile set lab-day --kind nfsroot --nfsroot lab --force", 0, ""},
		{"profile set never-checked root", "profile set lab-night --nfsroot lab5", 1,
			"cluster lab-night boots NFS root lab5, which was never checked: run 'node-switch nfsroot check lab5' or pass --force"},
		{"profile set never-checked root forced", "profile set lab-night --nfsroot lab5 --force", 0, ""},
		{"profile set description of a profile on a failed root", "profile set lab-night --description x", 0, ""},
		{"profile add on never-checked root", "profile add prep --kind nfsroot --nfsroot lab5", 0, ""},
		{"cluster add on failed root", "cluster add lab-new --profile lab-night", 0, ""},
		{"node add into failed root", "node add pc09 --mac 52:54:00:00:00:09 --ip 10.0.0.19 --cluster lab-night", 1, "add node pc09: " + failed},
		{"node add into failed root forced", "node add pc09 --mac 52:54:00:00:00:09 --ip 10.0.0.19 --cluster lab-night --force", 0, ""},
		{"nfsroot rm of a root in use", "nfsroot rm lab", 1, "profile lab-night uses it"},

		// Task B: a profile must render and find its files.
		{"profile add broken template", "profile add t3 --kind template --template-bios $BAD", 1,
			"add profile t3: trial render sample01: profile t3: bios template: template: t3:4: unclosed action started at t3:3 (fix the template, then set it again)"},
		{"profile add good template", "profile add t4 --kind template --template-bios $GOOD --boot-root $ROOT", 0, ""},
		{"profile set broken template", "profile set legacy --template-uefi $BAD", 1, "set profile legacy: trial render sample01: profile legacy: uefi template: template: legacy:4: unclosed action"},
		{"profile set broken template forced", "profile set legacy --template-bios $BAD --force", 1, "unclosed action"},
		{"profile set fixes the template", "profile set legacy --template-uefi $GOOD", 0, ""},
		{"cluster set to a broken template", "cluster set lab-day --profile legacy", 1,
			"cluster lab-day: set profile legacy: trial render sample01: profile legacy: uefi template: template: legacy:1:8: executing \"legacy\" at <.Bogus>"},
		{"cluster add with a broken template", "cluster add t --profile legacy", 1, "add cluster t: trial render sample01"},
		{"profile add files present", "profile add k --kind linux --kernel linux/vmlinuz --initrd linux/initrd.gz --boot-root $ROOT", 0, ""},
		{"profile add kernel missing", "profile add k --kind linux --kernel linux/vmlinuz-6.1 --initrd linux/initrd.gz --boot-root $ROOT", 1,
			"add profile k: profile k: files missing under boot root $ROOT: linux/vmlinuz-6.1 (copy them there, or pass --force)"},
		{"profile add kernel missing forced", "profile add k --kind linux --kernel linux/vmlinuz-6.1 --boot-root $ROOT --force", 0,
			"node-switch: warning: profile k: files missing under boot root $ROOT: linux/vmlinuz-6.1 (copy them there, or pass --force) (accepted: --force)"},
		{"profile add without boot root", "profile add k --kind linux --kernel linux/vmlinuz --boot-root $ROOT/nope", 0,
			"node-switch: warning: profile k: boot root does not exist: $ROOT/nope (linux/vmlinuz not looked for; create it with 'node-switch bootroot init $ROOT/nope' or pass --boot-root)"},
		{"profile set initrd missing", "profile set lab-night --initrd lab/other.img --boot-root $ROOT", 1, "files missing under boot root $ROOT: lab/other.img"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, vars := guardLab(t)
			before := inventoryState(t, db)
			args := strings.Fields(vars.Replace(tt.args))
			_, errs, st := run(t, db, args...)
			want := vars.Replace(tt.want)
			if st != tt.status || !strings.Contains(errs, want) {
				t.Fatalf("node-switch %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), st, errs, tt.status, want)
			}
			if st == 0 {
				return
			}
			if n := strings.Count(strings.TrimSpace(errs), "\n"); n > 0 {
				t.Errorf("error is %d lines, want one: %q", n+1, errs)
			}
			if after := inventoryState(t, db); after != before {
				t.Errorf("a refused command changed the inventory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
