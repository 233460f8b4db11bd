package nodes

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The logbook takes only the listed actions: a typo fails the change that
// makes it (and every test that reaches it) instead of writing an entry
// "log --action" never finds.
func TestLogbookTakesOnlyListedActions(t *testing.T) {
	ctx := context.Background()
	st, err := Open(filepath.Join(t.TempDir(), "inv.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	actor := Actor{Name: "t", Channel: ChannelCLI}
	type row struct {
		action Action
		ok     bool
	}
	var tests []row
	for _, a := range actions {
		tests = append(tests, row{a, true})
	}
	tests = append(tests, row{"", false}, row{"note", false}, row{"node-remove", false}, row{"Move", false}, row{"move ", false})
	for _, tc := range tests {
		before, _ := st.Log(ctx, LogFilter{})
		_, err := st.Record(ctx, actor, Event{Action: tc.action})
		after, _ := st.Log(ctx, LogFilter{})
		if tc.ok != (err == nil) {
			t.Errorf("Record(%q): %v, want accepted: %v", tc.action, err, tc.ok)
		}
		if grew := len(after) - len(before); grew != map[bool]int{true: 1, false: 0}[tc.ok] {
			t.Errorf("Record(%q): the logbook grew by %d", tc.action, grew)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "nodes/actions.go")) {
			t.Errorf("Record(%q): %v, want the fix named", tc.action, err)
		}
	}
}

// No code names an action by a string literal (Action: "move", e.Action ==
// "move"): the constants are the one place the names live, and a literal
// that matches one today compiles on after the constant is renamed.
func TestNoActionLiterals(t *testing.T) {
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		isLiteral := func(e ast.Expr) bool {
			l, ok := e.(*ast.BasicLit)
			return ok && l.Kind == token.STRING && l.Value != `""`
		}
		isAction := func(e ast.Expr) bool {
			switch x := e.(type) {
			case *ast.Ident:
				return x.Name == "Action"
			case *ast.SelectorExpr:
				return x.Sel.Name == "Action"
			}
			return false
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.KeyValueExpr:
				if isAction(x.Key) && isLiteral(x.Value) {
					found = append(found, fset.Position(x.Pos()).String())
				}
			case *ast.BinaryExpr:
				if (isAction(x.X) && isLiteral(x.Y)) || (isAction(x.Y) && isLiteral(x.X)) {
					found = append(found, fset.Position(x.Pos()).String())
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("actions as string literals (use the constants of nodes/actions.go):\n%s", strings.Join(found, "\n"))
	}
}

// What is not known yet is null in JSON, not a missing key, and lists are
// [] rather than null.
func TestJSONNullUntilKnown(t *testing.T) {
	seen := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		v    any
		want string
	}{
		{Node{Name: "n1", MAC: "52:54:00:00:00:01", Cluster: "c"},
			`{"name":"n1","mac":"52:54:00:00:00:01","ip":"","cluster":"c","masked":false,"last_seen":null,"firmware":null,"once_cluster":null}`},
		{Node{Name: "n1", MAC: "52:54:00:00:00:01", Cluster: "c", Masked: true, MaskReason: "fan", Event: 7, LastSeen: seen, Firmware: "uefi"},
			`{"name":"n1","mac":"52:54:00:00:00:01","ip":"","cluster":"c","masked":true,"mask_reason":"fan","event":7,"last_seen":"2026-11-30T22:00:00Z","firmware":"uefi","once_cluster":null}`},
		{NFSRoot{Name: "lab", Server: "s", Export: "/e", Kernel: "k", Initrd: "i"},
			`{"name":"lab","server":"s","export":"/e","kernel":"k","initrd":"i","checked_at":null,"check_ok":false,"check_result":null}`},
		{NFSRoot{Name: "lab", Server: "s", Export: "/e", Kernel: "k", Initrd: "i", Options: "vers=3,tcp", CheckedAt: seen, CheckOK: true, CheckResult: ""},
			`{"name":"lab","server":"s","export":"/e","kernel":"k","initrd":"i","options":"vers=3,tcp","checked_at":"2026-11-30T22:00:00Z","check_ok":true,"check_result":""}`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v:\n got %s %v\nwant %s", tc.v, b, err, tc.want)
		}
	}

	// A logbook entry naming no node, read by number.
	ctx := context.Background()
	st, err := Open(filepath.Join(t.TempDir(), "inv.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.Record(ctx, Actor{Name: "t", Channel: ChannelCLI}, Event{Action: ActionSSHCommand})
	if err != nil {
		t.Fatal(err)
	}
	e, err := st.Event(ctx, id)
	if b, _ := json.Marshal(e); err != nil || !strings.Contains(string(b), `"nodes":[]`) {
		t.Errorf("event %d: %s %v, want \"nodes\":[]", id, b, err)
	}
}
