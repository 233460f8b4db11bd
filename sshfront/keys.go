package sshfront

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// MinRSABits is the smallest RSA key accepted; ssh-keygen's default is 3072.
const MinRSABits = 2048

// ParsePublicKey reads a client's public key in the forms operators have at
// hand: an OpenSSH line (id_ed25519.pub, "ssh-rsa AAAA... comment", also as
// an authorized_keys line), the RFC 4716 block "ssh-keygen -e" writes, or a
// PEM public key (PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY", what
// OpenSSL and some Windows tools produce). Only ed25519 and RSA are taken.
func ParsePublicKey(data []byte) (ssh.PublicKey, string, error) {
	text := strings.TrimSpace(string(data))
	var (
		key     ssh.PublicKey
		comment string
		err     error
	)
	switch {
	case text == "":
		return nil, "", errors.New("empty key file")
	case strings.Contains(text, "PRIVATE KEY"):
		return nil, "", errors.New("this is a private key: register the public half (the .pub file, or 'ssh-keygen -y -f KEY')")
	case strings.HasPrefix(text, "---- BEGIN SSH2 PUBLIC KEY ----"):
		key, comment, err = parseRFC4716(text)
	case strings.HasPrefix(text, "-----BEGIN "):
		key, err = parsePEM([]byte(text))
	default:
		key, comment, _, _, err = ssh.ParseAuthorizedKey([]byte(text))
	}
	if err != nil {
		return nil, "", fmt.Errorf("not a public key I can read (want an OpenSSH .pub line, RFC 4716 or PEM): %w", err)
	}
	switch key.Type() {
	case ssh.KeyAlgoED25519:
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return nil, "", errors.New("RSA key without a usable modulus")
		}
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); !ok || rk.N.BitLen() < MinRSABits {
			return nil, "", fmt.Errorf("RSA key too short: want at least %d bits", MinRSABits)
		}
	default:
		return nil, "", fmt.Errorf("key type %s is not accepted: use ed25519 or RSA (ssh-keygen -t ed25519, or -t rsa -b 4096 -m PEM for Posh-SSH)", key.Type())
	}
	return key, comment, nil
}

func parsePEM(data []byte) (ssh.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("malformed PEM")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

func parseRFC4716(text string) (ssh.PublicKey, string, error) {
	var b64 strings.Builder
	comment := ""
	lines := strings.Split(strings.ReplaceAll(text, "\r", ""), "\n")
	cont := false
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		switch {
		case l == "---- END SSH2 PUBLIC KEY ----":
			raw, err := base64.StdEncoding.DecodeString(b64.String())
			if err != nil {
				return nil, "", err
			}
			k, err := ssh.ParsePublicKey(raw)
			return k, comment, err
		case cont:
			cont = strings.HasSuffix(l, "\\")
		case strings.Contains(l, ":"):
			name, val, _ := strings.Cut(l, ":")
			cont = strings.HasSuffix(l, "\\")
			if strings.EqualFold(strings.TrimSpace(name), "Comment") {
				comment = strings.Trim(strings.TrimSpace(val), `"`)
			}
		default:
			b64.WriteString(l)
		}
	}
	return nil, "", errors.New("RFC 4716 block without its END line")
}

// Fingerprint is the SHA256 fingerprint OpenSSH prints for a key.
func Fingerprint(k ssh.PublicKey) string { return ssh.FingerprintSHA256(k) }

// AuthorizedLine renders a key as one OpenSSH line without a newline.
func AuthorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// LoadHostKey reads the front door's host key and never writes one; a
// missing file is an error wrapping os.ErrNotExist.
func LoadHostKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", path, err)
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w (move it away to generate a new one, then re-pin it on every client)", path, err)
	}
	return s, nil
}

// LoadOrCreateHostKey reads the front door's ed25519 host key, generating it
// on first use. A host key must stay put, or every client's pinned key
// breaks, so it is written once with O_EXCL and never replaced.
func LoadOrCreateHostKey(path string) (signer ssh.Signer, created bool, err error) {
	s, err := LoadHostKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return s, false, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("generate host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "node-switch host key")
	if err != nil {
		return nil, false, fmt.Errorf("generate host key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, fmt.Errorf("host key %s: %w", path, err)
	}
	// Written aside and hard-linked into place: link fails if the name
	// exists, so a daemon and a CLI starting together agree on one key and
	// neither ever reads a half-written file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hostkey-*")
	if err != nil {
		return nil, false, fmt.Errorf("host key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		err = pem.Encode(tmp, block)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("write host key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return LoadOrCreateHostKey(path)
	} else if err != nil {
		return nil, false, fmt.Errorf("write host key %s: %w", path, err)
	}
	s, err = ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, false, err
	}
	return s, true, nil
}
