package web

import (
	"crypto/sha256"
	"encoding/hex"
)

// TokenPrefix starts every API token, so one is recognised in a script, a
// shell history or a secret scanner's rules for what it is.
const TokenPrefix = "nst_"

// NewToken makes an API token: the prefix and 32 random bytes (base64url),
// and the hash the inventory keeps of it. The token is shown once, to
// whoever made it; nothing keeps it.
func NewToken() (token, hash string) {
	token = TokenPrefix + randomToken()
	return token, TokenHash(token)
}

// TokenHash is what the inventory keeps of a token: its SHA-256 in hex. A
// token has 256 random bits, so no slow hash is needed to make guessing it
// from the hash hopeless, and checking one costs the API next to nothing.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
