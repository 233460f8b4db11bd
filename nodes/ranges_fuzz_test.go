package nodes

import (
	"slices"
	"strings"
	"testing"
)

// TestParseRangeCaps: a range may spell at most maxExpand names and
// maxExpandBytes of them, over all its terms, whatever makes them long.
func TestParseRangeCaps(t *testing.T) {
	tests := []struct {
		in    string
		names int // when no error
		err   bool
	}{
		{in: "n[0-99999]", names: maxExpand},
		{in: "n[0-100000]", err: true},
		{in: "r[0-9]n[0-9999]", names: maxExpand},
		{in: "r[0-9]n[0-9999],x1", names: maxExpand + 1}, // a plain name is not an expansion
		{in: "x1,r[0-9]n[0-9999]", err: true},
		{in: "a[0-59999],b[0-39999]", names: maxExpand},
		{in: "a[0-59999],b[0-40000]", err: true},
		{in: "a[0-59999],-b[0-40000]", err: true}, // exclusions count too
		// 100000 names of 105 bytes: 10 MB from a 110-byte range.
		{in: strings.Repeat("a", 100) + "[0-99999]", err: true},
		{in: "n[" + strings.Repeat("0", 200) + "-99999]", err: true},
		{in: "n[" + strings.Repeat("0", 60) + "-9999]", names: 10000},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			terms, err := ParseRange(tt.in)
			if tt.err {
				if err == nil || !strings.Contains(err.Error(), "too many names") {
					t.Fatalf("ParseRange(%q): error %v, want too many names", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, x := range terms {
				n += len(x.Names)
			}
			if n != tt.names {
				t.Errorf("ParseRange(%q) spells %d names, want %d", tt.in, n, tt.names)
			}
		})
	}
}

// FuzzParseRange: node ranges arrive from the CLI, the SSH front door and
// the web console. Any input parses or fails with an error, never panics,
// never spells more than the caps allow, and what parses is made of clean
// names: no brackets, commas or spaces left in them, and the terms written
// back as a range parse to the same terms.
// Seeds: testdata/fuzz/FuzzParseRange.
func FuzzParseRange(f *testing.F) {
	f.Fuzz(func(t *testing.T, expr string) {
		terms, err := ParseRange(expr)
		if err != nil {
			if terms != nil {
				t.Fatalf("ParseRange(%q) gave terms with error %v", expr, err)
			}
			return
		}
		if len(terms) == 0 {
			t.Fatalf("ParseRange(%q): no terms, no error", expr)
		}
		names, size := 0, 0
		var back []string
		for _, x := range terms {
			if x.Text == "" || len(x.Names) == 0 {
				t.Fatalf("ParseRange(%q): empty term %+v", expr, x)
			}
			if !x.Pattern && !slices.Equal(x.Names, []string{x.Text}) {
				t.Fatalf("ParseRange(%q): plain term %q expands to %q", expr, x.Text, x.Names)
			}
			for _, n := range x.Names {
				if n == "" || strings.ContainsAny(n, "[], \t\n") {
					t.Fatalf("ParseRange(%q): term %q gave name %q", expr, x.Text, n)
				}
				names++
				size += len(n)
			}
			if x.Exclude {
				back = append(back, "-"+x.Text)
			} else {
				back = append(back, x.Text)
			}
		}
		if names > maxExpand+len(expr) || size > maxExpandBytes+len(expr) {
			t.Fatalf("ParseRange of %d bytes spells %d names, %d bytes", len(expr), names, size)
		}
		again, err := ParseRange(strings.Join(back, ","))
		if err != nil {
			t.Fatalf("terms of %q written back as %q do not parse: %v", expr, strings.Join(back, ","), err)
		}
		if !slices.EqualFunc(again, terms, func(a, b Term) bool {
			return a.Exclude == b.Exclude && a.Text == b.Text && a.Pattern == b.Pattern && slices.Equal(a.Names, b.Names)
		}) {
			t.Fatalf("terms of %q written back parse differently: %+v, want %+v", expr, again, terms)
		}
	})
}
