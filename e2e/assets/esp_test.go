package assets

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Both ESP disks come out as an MBR disk whose one EFI system partition
// holds the loaders at the places firmware looks.
func TestESPDisks(t *testing.T) {
	for _, tool := range []string{"mkfs.vfat", "mmd", "mcopy", "mdir", "grub-mkstandalone"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install dosfstools mtools grub-common grub-efi-amd64-bin)", tool)
		}
	}
	t.Setenv(CacheEnv, t.TempDir())
	tests := []struct {
		name  string
		build func() (string, error)
		want  []string
		needs string
	}{
		{"stand-in Windows", ESPDisk, []string{ESPFallbackLoader, ESPWindowsLoader}, ""},
		{"Secure Boot", SecureBootESPDisk, []string{ESPFallbackLoader, ESPWindowsLoader, "EFI/debian/grub.cfg"}, SignedShimX64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needs != "" {
				if _, err := os.Stat(tt.needs); err != nil {
					t.Skipf("%s missing (apt-get install shim-signed grub-efi-amd64-signed)", tt.needs)
				}
			}
			path, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			img, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if img[510] != 0x55 || img[511] != 0xaa || img[446+4] != 0xef {
				t.Fatalf("no MBR with an EFI system partition")
			}
			part := filepath.Join(t.TempDir(), "esp.fat")
			if err := os.WriteFile(part, img[espPartitionStart*512:], 0o644); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.want {
				cmd := exec.Command("mdir", "-i", part, "::/"+f)
				cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
				if out, err := cmd.CombinedOutput(); err != nil || bytes.Contains(out, []byte("not found")) {
					t.Errorf("%s missing from the ESP: %v %s", f, err, out)
				}
			}
		})
	}
}
