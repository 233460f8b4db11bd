package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

// psCommands reads the command table of the Windows head's PowerShell
// script and fills it in the way the script does (Format-Word quotes).
func psCommands(t *testing.T, path string, values map[string]string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?s)\$Commands = @\{(.*?)\n\}`).FindSubmatch(src)
	if table == nil {
		t.Fatalf("%s: no $Commands table", path)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*'([^']*)'\s*$`).FindAllStringSubmatch(string(table[1]), -1) {
		line := m[2]
		for k, v := range values {
			line = strings.ReplaceAll(line, "{"+k+"}", "'"+strings.ReplaceAll(v, "'", `'\''`)+"'")
		}
		out[m[1]] = line
	}
	return out
}

func TestWindowsHeadCommandsAreInTheVocabulary(t *testing.T) {
	cmds := psCommands(t, "../../hooks/windows-head/Switch-ClusterNode.ps1", map[string]string{
		"range": "umu[18-19],umu23", "linux": "linux", "windows": "windows", "reason": `Switch-ClusterNode ToLinux by UM64W\o'brien`,
	})
	policy, err := sshPolicy()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ToLinuxPlan": "move", "ToLinux": "move", "ToWindows": "move", "Mask": "mask", "Unmask": "unmask", "Status": "status", "Reboot": "reboot",
	}
	for op, path := range want {
		line, ok := cmds[op]
		if !ok {
			t.Errorf("operation %s missing from the script's table (have %v)", op, cmds)
			continue
		}
		words, err := sshfront.Split(line)
		if err != nil {
			t.Errorf("%s: %q does not split: %v", op, line, err)
			continue
		}
		got, err := policy.Check(words, nodes.RoleOperate)
		if err != nil || got != path {
			t.Errorf("%s: %q checked as %q, %v; want %q", op, line, got, err, path)
		}
		if !strings.Contains(line, "--json") {
			t.Errorf("%s: %q lacks --json (the script reads it with ConvertFrom-Json)", op, line)
		}
		if strings.Contains(line, "{reason}") || strings.Contains(line, "{range}") {
			t.Errorf("%s: placeholder left in %q", op, line)
		}
		if strings.Contains(line, "reason") && !strings.Contains(strings.Join(words, "\x00"), `UM64W\o'brien`) {
			t.Errorf("%s: reason mangled: %q", op, words)
		}
	}
}
