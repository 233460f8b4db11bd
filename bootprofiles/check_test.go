package bootprofiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

func TestCheck(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"linux/vmlinuz", "linux/initrd.gz", "linux/extra.img"} {
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(root, "linux/dir"), 0o755))
	outside := filepath.Join(t.TempDir(), "vmlinuz")
	must(t, os.WriteFile(outside, []byte("x"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(root, "linux/escape")))

	tmpl := func(bios, uefi string) nodes.Profile {
		return nodes.Profile{Name: "t3", Kind: nodes.KindTemplate, TemplateBIOS: bios, TemplateUEFI: uefi}
	}
	linux := func(kernel, initrd string) nodes.Profile {
		return nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: kernel, Initrd: initrd}
	}
	const missing, final = "missing", "final"
	tests := []struct {
		name     string
		p        nodes.Profile
		bootRoot string
		// kind is "" (passes), missing (ErrMissingFile), final (any
		// other error); want is a fragment of the message.
		kind, want string
	}{
		{"template unclosed action", tmpl("{{.Bogus", ""), root, final, "bios template: template: t3:1: unclosed action"},
		{"template unknown field", tmpl("DEFAULT x\n", "linux {{.Bogus}}\n"), root, final, "uefi template"},
		{"template unknown function", tmpl("{{nosuch .Node.Name}}", ""), root, final, `function "nosuch" not defined`},
		{"template good", tmpl("DEFAULT {{.Node.Name}}\nLABEL x\n  KERNEL {{file .Profile.Kernel}}\n", "linux {{file \"linux/vmlinuz\"}} ip={{.Node.IP}}\nboot\n"), root, "", ""},
		{"template kernel present", nodes.Profile{Name: "t", Kind: nodes.KindTemplate, TemplateBIOS: "KERNEL {{file .Profile.Kernel}}", Kernel: "linux/vmlinuz"}, root, "", ""},
		{"template kernel missing", nodes.Profile{Name: "t", Kind: nodes.KindTemplate, TemplateBIOS: "KERNEL {{file .Profile.Kernel}}", Kernel: "linux/nope"}, root, missing, "linux/nope"},
		{"linux files present", linux("linux/vmlinuz", "linux/initrd.gz,linux/extra.img"), root, "", ""},
		{"linux leading slash", linux("/linux/vmlinuz", "/linux/initrd.gz"), root, "", ""},
		{"linux kernel missing", linux("linux/vmlinuz-6.1", "linux/initrd.gz"), root, missing, "files missing under boot root " + root + ": linux/vmlinuz-6.1 (copy them there, or pass --force)"},
		{"linux one initrd missing", linux("linux/vmlinuz", "linux/initrd.gz linux/nope.img"), root, missing, ": linux/nope.img ("},
		{"linux kernel is a directory", linux("linux/dir", ""), root, missing, "linux/dir (not a regular file)"},
		{"linux kernel escapes the root", linux("linux/escape", ""), root, missing, "linux/escape"},
		{"linux kernel dot-dot", linux("../"+filepath.Base(filepath.Dir(outside))+"/vmlinuz", ""), root, missing, "vmlinuz"},
		{"linux no kernel yet", linux("", ""), root, "", ""},
		{"linux no boot root given", linux("linux/nope", ""), "", "", ""},
		{"nfsroot kernel override missing", nodes.Profile{Name: "n", Kind: nodes.KindNFSRoot, NFSRoot: "lab", Kernel: "nfs/vmlinuz"}, root, missing, "nfs/vmlinuz"},
		{"nfsroot catalog kernel", nodes.Profile{Name: "n", Kind: nodes.KindNFSRoot, NFSRoot: "lab"}, root, "", ""},
		{"localdisk ignores kernel", nodes.Profile{Name: "w", Kind: nodes.KindLocalDisk, Kernel: "nope"}, root, "", ""},
		{"append line break", nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", Append: "quiet\nLABEL evil"}, root, final, "append \"quiet\\nLABEL evil\" contains a line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.p, tt.bootRoot)
			switch tt.kind {
			case "":
				if err != nil {
					t.Fatalf("want pass, got %v", err)
				}
				return
			case missing:
				if !errors.Is(err, ErrMissingFile) {
					t.Fatalf("want ErrMissingFile, got %v", err)
				}
			case final:
				if err == nil || errors.Is(err, ErrMissingFile) || errors.Is(err, ErrNoBootRoot) {
					t.Fatalf("want a final error, got %v", err)
				}
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is several lines: %q", err)
			}
		})
	}
}

func TestCheckNoBootRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "boot")
	err := Check(nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz"}, dir)
	if !errors.Is(err, ErrNoBootRoot) || !strings.Contains(err.Error(), "node-switch bootroot init "+dir) {
		t.Fatalf("want ErrNoBootRoot naming 'bootroot init', got %v", err)
	}
	// A broken template is reported before the missing root: it is final.
	err = Check(nodes.Profile{Name: "t3", Kind: nodes.KindTemplate, TemplateBIOS: "{{.Bogus", Kernel: "k"}, dir)
	if err == nil || errors.Is(err, ErrNoBootRoot) {
		t.Fatalf("broken template with no boot root: want the template error, got %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
