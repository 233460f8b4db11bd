package nodes

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestFilesKindMigratesAShippedInventory opens an inventory at schema 2: the
// rebuilt profiles table keeps every profile, its boot files (which the drop
// would cascade away) and the clusters pointing at it, accepts kind files,
// and still bumps the generation.
func TestFilesKindMigratesAShippedInventory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inventory.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], migrations[1], `PRAGMA user_version = 2`,
		`INSERT INTO profiles (name, kind, kernel) VALUES ('p', 'linux', 'vmlinuz')`,
		`INSERT INTO boot_files (profile, key, file) VALUES ('p', 'bios', 'um64_linux/pxelinux.0'), ('p', 'uefi', '')`,
		`INSERT INTO clusters (name, profile) VALUES ('c', 'p')`,
		`INSERT INTO nodes (name, mac, ip, cluster) VALUES ('n1', '02:00:00:00:00:01', '10.0.0.1', 'c')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()

	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Node(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := st.BootOf(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kernel != "vmlinuz" || len(p.BootFiles) != 2 || p.BootFiles[BootBIOS] != "um64_linux/pxelinux.0" {
		t.Fatalf("profile after migration: %+v", p)
	}
	g0, err := st.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	actor := Actor{Name: "t", Channel: ChannelCLI}
	if err := st.AddProfile(ctx, actor, Profile{Name: "site", Kind: KindFiles, FilesDir: "um64_linux"}); err != nil {
		t.Fatal(err)
	}
	if g1, err := st.Generation(ctx); err != nil || g1 == g0 {
		t.Fatalf("generation %d after adding a profile, was %d (%v)", g1, g0, err)
	}
	if got, err := st.Profile(ctx, "site"); err != nil || got.FilesDir != "um64_linux" {
		t.Fatalf("files profile: %+v, %v", got, err)
	}
}

func TestValidateFilesProfile(t *testing.T) {
	ctx := context.Background()
	st, err := Open(filepath.Join(t.TempDir(), "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		name string
		p    Profile
		ok   bool
	}{
		{"dir", Profile{Kind: KindFiles, FilesDir: "um64_linux"}, true},
		{"top", Profile{Kind: KindFiles, FilesDir: "."}, true},
		{"no dir", Profile{Kind: KindFiles}, false},
		{"absolute", Profile{Kind: KindFiles, FilesDir: "/srv/tftp/um64_linux"}, false},
		{"escape", Profile{Kind: KindFiles, FilesDir: "../etc"}, false},
		{"line break", Profile{Kind: KindFiles, FilesDir: "a\nb"}, false},
		{"http", Profile{Kind: KindFiles, FilesDir: "a", HTTP: true}, false},
		{"dir on linux", Profile{Kind: KindLinux, FilesDir: "a"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Name = "p"
			err := validateProfile(ctx, st.db, tc.p)
			if (err == nil) != tc.ok {
				t.Fatalf("validate %+v: %v, want ok=%v", tc.p, err, tc.ok)
			}
		})
	}
}

// The UEFI boot transport, and the chain it can run (issue 13).
func TestValidateUEFIBoot(t *testing.T) {
	ctx := context.Background()
	st, err := Open(filepath.Join(t.TempDir(), "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		name string
		p    Profile
		ok   bool
	}{
		{"default", Profile{Kind: KindLinux}, true},
		{"http", Profile{Kind: KindLinux, UEFIBoot: UEFIBootHTTP}, true},
		{"http, self-built", Profile{Kind: KindLinux, UEFIBoot: UEFIBootHTTP, UEFIChain: UEFIChainSelfBuilt}, true},
		{"http, localdisk", Profile{Kind: KindLocalDisk, UEFIBoot: UEFIBootHTTP, UEFILocalBoot: "chainload"}, true},
		{"http, signed: no http module", Profile{Kind: KindLinux, UEFIBoot: UEFIBootHTTP, UEFIChain: UEFIChainSigned}, false},
		{"http, files", Profile{Kind: KindFiles, FilesDir: "a", UEFIBoot: UEFIBootHTTP}, false},
		{"pxe stored as the default", Profile{Kind: KindLinux, UEFIBoot: UEFIBootPXE}, true},
		{"unknown", Profile{Kind: KindLinux, UEFIBoot: "tftp"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Name = "p"
			err := validateProfile(ctx, st.db, tc.p)
			if (err == nil) != tc.ok {
				t.Fatalf("validate %+v: %v, want ok=%v", tc.p, err, tc.ok)
			}
		})
	}
}

// Per-architecture kernels (issue 13, ARM64): only where a kernel is
// booted, and an initrd only with its kernel.
func TestValidateARM64Kernel(t *testing.T) {
	ctx := context.Background()
	st, err := Open(filepath.Join(t.TempDir(), "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		name string
		p    Profile
		ok   bool
	}{
		{"linux, both", Profile{Kind: KindLinux, Kernel: "k", KernelARM64: "a/k", InitrdARM64: "a/i"}, true},
		{"linux, arm64 only", Profile{Kind: KindLinux, KernelARM64: "a/k"}, true},
		{"initrd without kernel", Profile{Kind: KindLinux, Kernel: "k", InitrdARM64: "a/i"}, false},
		{"localdisk", Profile{Kind: KindLocalDisk, KernelARM64: "a/k"}, false},
		{"template", Profile{Kind: KindTemplate, TemplateUEFI: "x", KernelARM64: "a/k"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Name = "p"
			err := validateProfile(ctx, st.db, tc.p)
			if (err == nil) != tc.ok {
				t.Fatalf("validate %+v: %v, want ok=%v", tc.p, err, tc.ok)
			}
		})
	}
}
