package nodes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func passwordFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bmc.pass")
	must(t, os.WriteFile(p, []byte(content), mode))
	must(t, os.Chmod(p, mode))
	return p
}

func TestReadPasswordFile(t *testing.T) {
	tests := []struct {
		name, content string
		mode          os.FileMode
		relative      bool
		want, errHas  string
	}{
		{"first line", "s3cret\nignored\n", 0o600, false, "s3cret", ""},
		{"no newline, owner read only", "s3cret", 0o400, false, "s3cret", ""},
		{"group readable", "s3cret\n", 0o640, false, "", "chmod 600"},
		{"world readable", "s3cret\n", 0o644, false, "", "chmod 600"},
		{"empty", "\n", 0o600, false, "", "empty first line"},
		{"too long for IPMI", strings.Repeat("x", 21), 0o600, false, "", "allows 20"},
		{"relative path", "s3cret", 0o600, true, "", "absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := passwordFile(t, tt.content, tt.mode)
			if tt.relative {
				p = filepath.Base(p)
			}
			got, err := ReadPasswordFile(p)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v, want one containing %q", err, tt.errHas)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseBMCAddr(t *testing.T) {
	tests := []struct {
		in       string
		host     string
		port     int
		wantsErr bool
	}{
		{"10.1.0.18", "10.1.0.18", 623, false},
		{"10.1.0.18:6230", "10.1.0.18", 6230, false},
		{"bmc-umu18.example", "bmc-umu18.example", 623, false},
		{"[fd00::18]:623", "fd00::18", 623, false},
		{"fd00::18", "fd00::18", 623, false},
		{"10.1.0.18:0", "", 0, true},
		{"10.1.0.18:x", "", 0, true},
		{"", "", 0, true},
	}
	for _, tt := range tests {
		h, p, err := ParseBMCAddr(tt.in)
		if (err != nil) != tt.wantsErr || h != tt.host || p != tt.port {
			t.Errorf("ParseBMCAddr(%q) = %q, %d, %v", tt.in, h, p, err)
		}
	}
}

func TestSetBMCs(t *testing.T) {
	ctx := context.Background()
	good := passwordFile(t, "s3cret\n", 0o600)
	open := passwordFile(t, "s3cret\n", 0o644)
	tests := []struct {
		name string
		bmcs []BMC
		err  string // "" = accepted
	}{
		{"two nodes", []BMC{{Node: "n1", Host: "10.9.0.1", User: "admin", PasswordFile: good},
			{Node: "n2", Host: "10.9.0.2", Port: 6230, User: "admin", PasswordFile: good}}, ""},
		{"unknown node changes nothing", []BMC{{Node: "n1", Host: "10.9.0.1", User: "admin", PasswordFile: good},
			{Node: "nope", Host: "10.9.0.9", User: "admin", PasswordFile: good}}, "node nope"},
		{"readable password file changes nothing", []BMC{{Node: "n1", Host: "10.9.0.1", User: "admin", PasswordFile: open}}, "chmod 600"},
		{"missing password file", []BMC{{Node: "n1", Host: "10.9.0.1", User: "admin", PasswordFile: "/nonexistent/pw"}}, "no such file"},
		{"user too long", []BMC{{Node: "n1", Host: "10.9.0.1", User: strings.Repeat("u", 17), PasswordFile: good}}, "1-16 bytes"},
		{"no user", []BMC{{Node: "n1", Host: "10.9.0.1", PasswordFile: good}}, "--bmc-user"},
		{"twice", []BMC{{Node: "n1", Host: "10.9.0.1", User: "a", PasswordFile: good}, {Node: "n1", Host: "10.9.0.1", User: "a", PasswordFile: good}}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newTestStore(t)
			addNodes(t, st, "n", "linux", 2)
			gen0, _ := st.Generation(ctx)
			err := st.SetBMCs(ctx, testActor, tt.bmcs, "rack 3")
			got, berr := st.BMCs(ctx, []string{"n1", "n2"})
			must(t, berr)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err %v, want invalid input containing %q", err, tt.err)
				}
				if len(got) != 0 {
					t.Errorf("refused, but BMCs stored: %v", got)
				}
				return
			}
			must(t, err)
			if len(got) != len(tt.bmcs) || got["n1"].Port != 623 || got["n2"].Port != 6230 || got["n1"].PasswordFile != good {
				t.Errorf("stored %+v", got)
			}
			// BMCs are not boot answers: the DHCP cache is not told.
			if gen, _ := st.Generation(ctx); gen != gen0 {
				t.Errorf("generation moved %d -> %d for a BMC change", gen0, gen)
			}
			evs, err := st.Log(ctx, LogFilter{})
			must(t, err)
			last := evs[len(evs)-1]
			if last.Action != ActionNodeBMC || !strings.Contains(last.Result, "admin@10.9.0.2:6230") {
				t.Errorf("logbook: %+v", last)
			}
			if s := fmt.Sprintf("%+v", evs); strings.Contains(s, good) || strings.Contains(s, "s3cret") {
				t.Errorf("logbook names the password file or password: %s", s)
			}
			// Removing the node removes its BMC.
			_, err = st.RemoveNodes(ctx, testActor, "n1", "")
			must(t, err)
			got, _ = st.BMCs(ctx, []string{"n1", "n2"})
			if _, ok := got["n1"]; ok || len(got) != 1 {
				t.Errorf("after node rm n1: %+v", got)
			}
			must(t, st.RemoveBMC(ctx, testActor, "n2", ""))
			if err := st.RemoveBMC(ctx, testActor, "n2", ""); !errors.Is(err, ErrInvalid) {
				t.Errorf("second remove: %v, want invalid input", err)
			}
		})
	}
}

func TestReadBMCCSV(t *testing.T) {
	in := "node,bmc,user,password_file\n# rack 3\nn1, 10.9.0.1,admin,/etc/node-switch/bmc.pass\nn2,10.9.0.2:6230,admin,/etc/node-switch/bmc.pass\n"
	bs, err := ReadBMCCSV(strings.NewReader(in))
	must(t, err)
	if len(bs) != 2 || bs[0].Host != "10.9.0.1" || bs[0].Port != 623 || bs[1].Port != 6230 || bs[1].PasswordFile != "/etc/node-switch/bmc.pass" {
		t.Errorf("got %+v", bs)
	}
	for _, bad := range []string{"", "n1,10.9.0.1,admin\n", "n1,10.9.0.1:99999,admin,/p\n"} {
		if _, err := ReadBMCCSV(strings.NewReader(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err %v, want invalid input", bad, err)
		}
	}
}
