package sshfront

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSA(t *testing.T) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

func TestParsePublicKey(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edSSH, _ := ssh.NewPublicKey(edPub)
	rk := testRSA(t)
	rsaSSH, _ := ssh.NewPublicKey(&rk.PublicKey)
	pkix, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallSSH, _ := ssh.NewPublicKey(&small.PublicKey)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecSSH, _ := ssh.NewPublicKey(&ec.PublicKey)
	privPEM, _ := ssh.MarshalPrivateKey(edPriv, "")
	b64 := base64.StdEncoding.EncodeToString(edSSH.Marshal())
	rfc4716 := "---- BEGIN SSH2 PUBLIC KEY ----\r\nComment: \"win-head\"\r\n" + b64[:40] + "\r\n" + b64[40:] + "\r\n---- END SSH2 PUBLIC KEY ----\r\n"

	tests := []struct {
		name        string
		data        string
		want        ssh.PublicKey
		wantComment string
		wantErr     string
	}{
		{"openssh ed25519", string(ssh.MarshalAuthorizedKey(edSSH))[:len(ssh.MarshalAuthorizedKey(edSSH))-1] + " ops@win-head\n", edSSH, "ops@win-head", ""},
		{"openssh rsa", string(ssh.MarshalAuthorizedKey(rsaSSH)), rsaSSH, "", ""},
		{"authorized_keys options", `from="10.0.0.1" ` + string(ssh.MarshalAuthorizedKey(edSSH)), edSSH, "", ""},
		{"pem pkix", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})), rsaSSH, "", ""},
		{"pem pkcs1", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)})), rsaSSH, "", ""},
		{"rfc4716", rfc4716, edSSH, "win-head", ""},
		{"empty", "  \n", nil, "", "empty"},
		{"private key", string(pem.EncodeToMemory(privPEM)), nil, "", "private key"},
		{"short rsa", string(ssh.MarshalAuthorizedKey(smallSSH)), nil, "", "too short"},
		{"ecdsa", string(ssh.MarshalAuthorizedKey(ecSSH)), nil, "", "not accepted"},
		{"garbage", "ssh-ed25519 AAAAnotbase64!!", nil, "", "not a public key"},
		{"pem certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", nil, "", "not a public key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, comment, err := ParsePublicKey([]byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", k, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if Fingerprint(k) != Fingerprint(tc.want) || comment != tc.wantComment {
				t.Fatalf("got %s %q, want %s %q", Fingerprint(k), comment, Fingerprint(tc.want), tc.wantComment)
			}
		})
	}
}

func TestHostKeyIsStable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	s1, created, err := LoadOrCreateHostKey(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	if s1.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("host key type %s", s1.PublicKey().Type())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file mode: %v %v", fi, err)
	}
	s2, created, err := LoadOrCreateHostKey(path)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	if Fingerprint(s1.PublicKey()) != Fingerprint(s2.PublicKey()) {
		t.Fatal("host key changed between starts")
	}
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreateHostKey(path); err == nil || !strings.Contains(err.Error(), "re-pin") {
		t.Fatalf("corrupt key: %v", err)
	}
}
