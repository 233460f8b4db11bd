package bootprofiles

import (
	"errors"
	"fmt"
	"reflect"
	"text/template"
	"text/template/parse"
)

// A template profile is rendered on every TFTP or HTTP request of its
// nodes, inside the server. text/template bounds only its call depth: a
// template can still loop ({{range 1000000000000}}), double a string each
// time round ({{$x = printf "%s%s" $x $x}}) or fan out through {{define}}s
// calling each other twice, and hang or exhaust the server on each request.
// A boot config is a few kilobytes, so each render gets a budget far
// above what one needs.
const (
	// maxTemplateOutput is what one render may write.
	maxTemplateOutput = 1 << 20
	// maxTemplateSteps is how many range iterations and {{template}}
	// calls one render may make, together.
	maxTemplateSteps = 10000
	// maxTemplateStrings is how many bytes of strings one render may
	// make with print, printf, println, html, js and urlquery.
	maxTemplateStrings = 4 << 20
)

// ErrTemplateLimit is returned (wrapped) when a template goes over a budget.
var ErrTemplateLimit = errors.New("template exceeds its limits")

// Names of the guards bound puts into the parse trees. Funcs requires
// identifiers, so a template could call them too: that only spends budget.
const (
	rangeGuard = "nodeSwitchRangeGuard"
	callGuard  = "nodeSwitchCallGuard"
)

// templateBudget counts what one render spends.
type templateBudget struct {
	steps   int
	strings int
}

func (b *templateBudget) step(n int) error {
	if n < 0 || n > maxTemplateSteps-b.steps {
		return fmt.Errorf("%w: more than %d range iterations and template calls", ErrTemplateLimit, maxTemplateSteps)
	}
	b.steps += n
	return nil
}

// made charges a string a function made to the budget.
func (b *templateBudget) made(s string) (string, error) {
	if len(s) > maxTemplateStrings-b.strings {
		return "", fmt.Errorf("%w: more than %d MiB of strings made", ErrTemplateLimit, maxTemplateStrings>>20)
	}
	b.strings += len(s)
	return s, nil
}

// argBytes is how long the string arguments of a call are: a call is
// refused before it copies more than the budget left.
func (b *templateBudget) args(a []any) error {
	n := 0
	for _, v := range a {
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	if n > maxTemplateStrings-b.strings {
		return fmt.Errorf("%w: more than %d MiB of strings made", ErrTemplateLimit, maxTemplateStrings>>20)
	}
	return nil
}

// funcs are the guards and the budgeted string builtins, which replace
// text/template's own (the same functions underneath).
func (b *templateBudget) funcs() template.FuncMap {
	str := func(f func(...any) string) func(...any) (string, error) {
		return func(a ...any) (string, error) {
			if err := b.args(a); err != nil {
				return "", err
			}
			return b.made(f(a...))
		}
	}
	return template.FuncMap{
		rangeGuard: func(v any) (any, error) {
			n := 0
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Array, reflect.Slice, reflect.Map, reflect.String, reflect.Chan:
				n = rv.Len()
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				n = int(max(min(rv.Int(), maxTemplateSteps+1), 0))
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
				n = int(min(rv.Uint(), maxTemplateSteps+1))
			case reflect.Func:
				return nil, fmt.Errorf("%w: range over a function", ErrTemplateLimit)
			}
			return v, b.step(n)
		},
		callGuard: func(v ...any) (any, error) {
			if err := b.step(1); err != nil {
				return nil, err
			}
			if len(v) == 0 {
				return nil, nil
			}
			return v[len(v)-1], nil
		},
		"print":   str(fmt.Sprint),
		"println": str(fmt.Sprintln),
		"printf": func(format string, a ...any) (string, error) {
			if err := b.args(append(a, format)); err != nil {
				return "", err
			}
			return b.made(fmt.Sprintf(format, a...))
		},
		"html":     str(template.HTMLEscaper),
		"js":       str(template.JSEscaper),
		"urlquery": str(template.URLQueryEscaper),
	}
}

// parseSiteTemplate parses a profile's template with the functions a
// site template may call, every one within a fresh budget.
func parseSiteTemplate(in Input, src string) (*template.Template, error) {
	b := &templateBudget{}
	fm := b.funcs()
	fm["file"] = func(p string) (string, error) { return b.made(fileRef(in, p)) }
	t, err := template.New(in.Profile.Name).Option("missingkey=error").Funcs(fm).Parse(src)
	if err != nil {
		return nil, err
	}
	bound(t)
	return t, nil
}

// bound puts a guard into every range pipeline and {{template}} call of
// t and its associated templates, so that each iteration and call is
// counted: t must have been given b.funcs().
func bound(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			guardNode(tt.Tree.Root)
		}
	}
}

func guardNode(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			guardNode(c)
		}
	case *parse.IfNode:
		guardBranch(&n.BranchNode)
	case *parse.WithNode:
		guardBranch(&n.BranchNode)
	case *parse.RangeNode:
		n.Pipe.Cmds = append(n.Pipe.Cmds, guardCommand(rangeGuard, n.Pipe.Position()))
		guardBranch(&n.BranchNode)
	case *parse.TemplateNode:
		if n.Pipe == nil {
			// {{template "x"}} runs x with nil data: so does the guard
			// called with no argument.
			n.Pipe = &parse.PipeNode{NodeType: parse.NodePipe, Pos: n.Position()}
		}
		n.Pipe.Cmds = append(n.Pipe.Cmds, guardCommand(callGuard, n.Position()))
	}
}

func guardBranch(b *parse.BranchNode) {
	guardNode(b.List)
	if b.ElseList != nil {
		guardNode(b.ElseList)
	}
}

func guardCommand(name string, pos parse.Pos) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{parse.NewIdentifier(name).SetPos(pos)}}
}

// limitedWriter fails the write that would take a render past
// maxTemplateOutput; text/template stops at the first failed write.
type limitedWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > maxTemplateOutput-l.n {
		return 0, fmt.Errorf("%w: more than %d KiB of output", ErrTemplateLimit, maxTemplateOutput>>10)
	}
	l.n += len(p)
	return l.w.Write(p)
}
