package bootprofiles

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

// fanOut is n {{define}}s each calling the one before twice: 2^n calls
// and no output.
func fanOut(n int) string {
	var b strings.Builder
	b.WriteString(`{{define "t0"}}{{end}}`)
	for i := 1; i <= n; i++ {
		b.WriteString(`{{define "t` + itoa(i) + `"}}{{template "t` + itoa(i-1) + `"}}{{template "t` + itoa(i-1) + `" .}}{{end}}`)
	}
	b.WriteString(`{{template "t` + itoa(n) + `"}}`)
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestTemplateLimits: a template that would loop for ever, double a string
// each time round or fan out through its {{define}}s is refused with
// ErrTemplateLimit on the request, instead of hanging the server or
// exhausting its memory; ordinary templates, loops and calls still work.
func TestTemplateLimits(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // the template's output, when it renders
		limit     bool   // refused with ErrTemplateLimit
	}{
		{name: "range over int", src: `{{range 5}}{{.}}{{end}}`, want: "01234"},
		{name: "range else", src: `{{range 0}}a{{else}}b{{end}}`, want: "b"},
		{name: "range with variables", src: `{{range $i, $n := .Event.Nodes}}{{$i}}={{$n}} {{end}}`, want: "0=umu20 "},
		{name: "template call", src: `{{define "x"}}[{{.}}]{{end}}{{template "x" "a"}}{{template "x"}}{{block "y" 3}}<{{.}}>{{end}}`, want: "[a][<no value>]<3>"},
		{name: "budgeted builtins", src: `{{printf "%s-%d" .Node.Name 7}} {{print 1 2}} {{html "<a>"}} {{js "'"}} {{urlquery "a b"}} {{println "x"}}`,
			want: "umu20-7 1 2 &lt;a&gt; \\' a+b x\n"},
		{name: "huge range", src: `{{range 1000000000000}}{{end}}`, limit: true},
		{name: "nested ranges", src: `{{range 1000}}{{range 1000}}{{end}}{{end}}`, limit: true},
		{name: "nested ranges through root", src: `{{range $.Node.Event}}{{range $.Node.Event}}{{range $.Node.Event}}{{end}}{{end}}{{end}}`, limit: true},
		{name: "doubling printf", src: `{{$x := "ab"}}{{range 64}}{{$x = printf "%s%s" $x $x}}{{end}}`, limit: true},
		{name: "doubling print", src: `{{$x := "ab"}}{{range 64}}{{$x = print $x $x}}{{end}}`, limit: true},
		{name: "growing js", src: `{{$x := "'"}}{{range 64}}{{$x = js $x}}{{end}}`, limit: true},
		{name: "wide printf", src: `{{range 10000}}{{$y := printf "%1000000d" 1}}{{end}}`, limit: true},
		{name: "fan-out", src: fanOut(60), limit: true},
		{name: "output", src: `{{range 100000}}0123456789abcdef{{end}}`, limit: true},
		{name: "recursion", src: `{{define "r"}}{{template "r" .}}{{end}}{{template "r"}}`, limit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := goldenInput(nodes.Profile{Name: "site", Kind: nodes.KindTemplate, TemplateBIOS: tt.src}, BIOS)
			in.Node.Event = 1000
			out, err := Render(in)
			if tt.limit {
				if !errors.Is(err, ErrTemplateLimit) {
					t.Fatalf("Render = %d bytes, %v; want ErrTemplateLimit", len(out), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("Render = %q, want it to hold %q", out, tt.want)
			}
		})
	}
}

// FuzzRenderTemplate: a site template and the free text of a node and its
// logbook entry render to an error or to output, never panic or hang, and
// the output stays within the template budget plus the header.
// Seeds: testdata/fuzz/FuzzRenderTemplate.
func FuzzRenderTemplate(f *testing.F) {
	f.Fuzz(func(t *testing.T, src, text string) {
		for _, fw := range []Firmware{BIOS, UEFI, IPXE} {
			in := goldenInput(nodes.Profile{Name: "site", Kind: nodes.KindTemplate, TemplateBIOS: src, TemplateUEFI: src}, fw)
			in.Event.Reason, in.Event.Actor, in.Node.MaskReason = text, text, text
			in.Event.Nodes = append(in.Event.Nodes, text)
			in.Node.Firmware = text
			out, err := Render(in)
			if err != nil {
				if out != nil {
					t.Fatalf("%s: output with error %v", fw, err)
				}
				continue
			}
			if max := maxTemplateOutput + 4096 + 8*len(text); len(out) > max {
				t.Fatalf("%s: %d bytes of output, more than %d", fw, len(out), max)
			}
		}
	})
}
