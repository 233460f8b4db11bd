package nodes

import (
	"slices"
	"strings"
	"testing"
)

func TestExpandHostlist(t *testing.T) {
	tests := []struct {
		in   string
		want string // comma-joined
		err  string
	}{
		{in: "umu[18-20]", want: "umu18,umu19,umu20"},
		{in: "umu[01-03,09]", want: "umu01,umu02,umu03,umu09"},
		{in: "n[9-11]", want: "n9,n10,n11"},
		{in: "r[1-2]n[01-02]", want: "r1n01,r1n02,r2n01,r2n02"},
		{in: "umu[5]", want: "umu5"},
		{in: "n[3-1]", err: "backwards"},
		{in: "n[a-b]", err: "not a number"},
		{in: "n[1-", err: "without ']'"},
		{in: "n1]", err: "without '['"},
		{in: "n[]", err: "empty brackets"},
		{in: "n[0-99999999]", err: "too many"},
		// Counts that overflowed int and passed the cap, then allocated
		// until the heap was gone.
		{in: "n[0-9223372036854775807]", err: "too many"},
		{in: "n[1-4611686018427387904]x[1-2]", err: "too many"},
		{in: "n[1-3074457345618258603]x[1-3]", err: "too many"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandHostlist(tt.in, maxExpand)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("expandHostlist(%q) error = %v, want it to mention %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("expandHostlist(%q) = %v, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRangeTerms(t *testing.T) {
	tests := []struct {
		in      string
		terms   []string // "-" prefix for exclusions
		wantErr bool
	}{
		{in: "umu[18-19],umu21", terms: []string{"umu[18-19]", "umu21"}},
		{in: "all,-umu20", terms: []string{"all", "-umu20"}},
		{in: "umu18 umu19", terms: []string{"umu18", "umu19"}},
		{in: "linux, -umu[20-21]", terms: []string{"linux", "-umu[20-21]"}},
		{in: "", wantErr: true},
		{in: "a,,b", wantErr: true},
		{in: "-", wantErr: true},
		{in: "n[1-2", wantErr: true},
		{in: "n[[1]]", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			terms, err := ParseRange(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseRange(%q) = %v, want an error", tt.in, terms)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range terms {
				s := x.Text
				if x.Exclude {
					s = "-" + s
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tt.terms) {
				t.Errorf("ParseRange(%q) = %v, want %v", tt.in, got, tt.terms)
			}
		})
	}
}

func TestCompress(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"umu18,umu19,umu20,umu21,umu22,umu23", "umu[18-23]"},
		{"umu18,umu19,umu21,umu22", "umu[18-19,21-22]"},
		{"umu20", "umu20"},
		{"n9,n10,n11", "n[9-11]"},
		{"umu01,umu02,umu03,umu09", "umu[01-03,09]"},
		{"umu09,umu10,umu11", "umu[09-11]"},
		{"a,b,umu1", "umu1,a,b"},
		{"umu2,umu1,umu2", "umu[1-2]"},
		{"lab1,umu1,lab2", "lab[1-2],umu1"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var in []string
			if tt.in != "" {
				in = strings.Split(tt.in, ",")
			}
			got := Compress(in)
			if got != tt.want {
				t.Fatalf("Compress(%v) = %q, want %q", in, got, tt.want)
			}
			if got == "" {
				return
			}
			// Compressing must not change what the range means.
			back, err := expandHostlistList(got)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(in)
			slices.Sort(want)
			want = slices.Compact(want)
			slices.Sort(back)
			if !slices.Equal(back, want) {
				t.Errorf("expand(Compress(%v)) = %v", in, back)
			}
		})
	}
}

func TestSortNames(t *testing.T) {
	names := []string{"umu10", "umu9", "lab2", "umu09", "lab10", "head"}
	SortNames(names)
	want := []string{"head", "lab2", "lab10", "umu9", "umu09", "umu10"}
	if !slices.Equal(names, want) {
		t.Fatalf("SortNames = %v, want %v", names, want)
	}
}

func FuzzCompressRoundTrip(f *testing.F) {
	f.Add("umu18,umu19,umu21")
	f.Add("n09,n10,n9")
	f.Fuzz(func(t *testing.T, list string) {
		var in []string
		for _, n := range strings.Split(list, ",") {
			if checkName("node", n) == nil {
				in = append(in, n)
			}
		}
		if len(in) == 0 {
			return
		}
		got, err := expandHostlistList(Compress(in))
		if err != nil {
			t.Fatalf("Compress(%v) = %q does not parse: %v", in, Compress(in), err)
		}
		slices.Sort(in)
		in = slices.Compact(in)
		slices.Sort(got)
		if !slices.Equal(got, in) {
			t.Fatalf("expand(Compress(%v)) = %v", in, got)
		}
	})
}
