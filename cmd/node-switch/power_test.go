package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BMC credentials: set by flag or CSV, shown as an address only, the
// password never printed, logged or in JSON; bad input changes nothing.
func TestNodeBMC(t *testing.T) {
	db := sourceDB(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "bmc.pass")
	if err := os.WriteFile(pw, []byte("Sup3rS3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open.pass")
	if err := os.WriteFile(open, []byte("Sup3rS3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(dir, "bmcs.csv")
	if err := os.WriteFile(csv, []byte("node,bmc,user,password_file\numu19,10.77.0.19,admin,"+pw+"\numu20,10.77.0.20:6230,admin,"+pw+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"node", "set", "umu18", "--bmc", "10.77.0.18", "--bmc-user", "admin", "--bmc-password-file", open}, "chmod 600"},
		{[]string{"node", "set", "umu18", "--bmc", "10.77.0.18", "--bmc-user", "admin"}, "together"},
		{[]string{"node", "set", "umu18", "--bmc", "10.77.0.18:70000", "--bmc-user", "admin", "--bmc-password-file", pw}, "not 1-65535"},
		{[]string{"node", "set", "nosuch", "--bmc", "10.77.0.18", "--bmc-user", "admin", "--bmc-password-file", pw}, "node nosuch"},
		{[]string{"node", "set", "umu18"}, "nothing to set"},
		{[]string{"power", "off", "umu18"}, "have no BMC"},
	}
	for _, b := range bad {
		_, errs, st := run(t, db, b.args...)
		if st != exitUsage || !strings.Contains(errs, b.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", b.args, st, errs, exitUsage, b.want)
		}
	}
	if out := mustRun(t, db, "node", "list", "umu18", "--json"); strings.Contains(out, `"bmc"`) {
		t.Errorf("refused changes left a BMC: %s", out)
	}
	mustRun(t, db, "node", "set", "umu18", "--bmc", "10.77.0.18", "--bmc-user", "admin", "--bmc-password-file", pw, "--reason", "rack 3")
	mustRun(t, db, "node", "bmc-import", csv)
	list := mustRun(t, db, "node", "list", "umu[18-21]")
	for _, want := range []string{"10.77.0.18:623", "10.77.0.20:6230"} {
		if !strings.Contains(list, want) {
			t.Errorf("node list lacks %s:\n%s", want, list)
		}
	}
	js := mustRun(t, db, "node", "list", "--json")
	if !strings.Contains(js, `"bmc": "10.77.0.19:623"`) {
		t.Errorf("node list --json lacks the BMC address:\n%s", js)
	}
	everything := list + js + mustRun(t, db, "log") + mustRun(t, db, "log", "--json")
	for _, secret := range []string{"Sup3rS3cret", pw} {
		if strings.Contains(everything, secret) {
			t.Errorf("%q printed by list or log", secret)
		}
	}
	mustRun(t, db, "node", "set", "umu18", "--no-bmc")
	if out := mustRun(t, db, "node", "list", "umu18"); strings.Contains(out, "10.77.0.18") {
		t.Errorf("--no-bmc left the BMC: %s", out)
	}
}
