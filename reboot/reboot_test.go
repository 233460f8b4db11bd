package reboot

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestNewExplainsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(key+".enc", pem.EncodeToMemory(enc), 0o600)
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, nil, 0o600)
	tests := []struct {
		cfg     Config
		wantErr string
	}{
		{Config{KeyFile: filepath.Join(dir, "none"), KnownHostsFile: kh}, "ssh-keygen -t ed25519"},
		{Config{KeyFile: key + ".enc", KnownHostsFile: kh}, "unencrypted"},
		{Config{KeyFile: key, KnownHostsFile: filepath.Join(dir, "nohosts")}, "ssh-keyscan"},
		{Config{KeyFile: key, KnownHostsFile: kh}, ""},
	}
	for _, tc := range tests {
		c, err := New(tc.cfg)
		if tc.wantErr == "" {
			if err != nil || c.cfg.Command != "systemctl reboot" || c.cfg.Parallel != 32 || c.cfg.User != "root" {
				t.Errorf("New(%+v) = %+v, %v", tc.cfg, c, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("New(%+v): %v, want error containing %q", tc.cfg, err, tc.wantErr)
		}
	}
}
