package main

import (
	"bytes"
	"strings"
	"testing"
)

// The VM's console reaches the terminal one prefixed line at a time, as a
// terminal would show it: split writes joined, iPXE's carriage-return
// progress and escape sequences reduced to what is left on screen.
func TestDemoConsole(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
		lines  []string
	}{
		{"split write", []string{"NODE-SWITCH-MAR", "KER: LINUX\r\nnext"}, "vm| NODE-SWITCH-MARKER: LINUX\n",
			[]string{"NODE-SWITCH-MARKER: LINUX"}},
		{"carriage return", []string{"Configuring...\rnet0: 192.168.1.20\n"}, "vm| net0: 192.168.1.20\n",
			[]string{"net0: 192.168.1.20"}},
		{"escapes and blank lines", []string{"\x1bc\x1b[2J\n\x1b[0mSeaBIOS\x1b[0m\n\r\n"}, "vm| SeaBIOS\n",
			[]string{"SeaBIOS"}},
		{"trailing carriage return", []string{"Booting from Hard Disk...\r\r\n"}, "vm| Booting from Hard Disk...\n",
			[]string{"Booting from Hard Disk..."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			var lines []string
			w := &prefixWriter{w: &out, prefix: "vm| ", clean: cleanConsole, onLine: func(l string) { lines = append(lines, l) }}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if out.String() != tc.want {
				t.Errorf("terminal got %q, want %q", out.String(), tc.want)
			}
			if strings.Join(lines, "|") != strings.Join(tc.lines, "|") {
				t.Errorf("onLine saw %q, want %q", lines, tc.lines)
			}
		})
	}
}
