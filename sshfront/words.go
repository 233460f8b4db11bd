// Package sshfront is the SSH front door: the Windows head (and any operator
// with a registered key) runs node-switch commands over SSH. There is no
// shell behind it: a command line is split into words here, checked against
// a fixed vocabulary and the key's role, and handed to a callback that runs
// the same CLI code in-process.
package sshfront

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on what a client may send as one command; real commands are a few
// dozen bytes, so anything near these is a mistake or an attack.
const (
	MaxCommandLen = 4096
	MaxWords      = 64
)

// Split breaks a command line into words the way a POSIX shell would for
// plain words and quotes ('single', "double" with \" \\ \$ \` escapes, and
// backslash outside quotes), without expanding anything. Unquoted shell
// operators are refused rather than taken literally, because an operator who
// types "status; log" expects a shell and should be told there is none.
func Split(line string) ([]string, error) {
	if len(line) > MaxCommandLen {
		return nil, fmt.Errorf("command is %d bytes, more than the %d allowed", len(line), MaxCommandLen)
	}
	var (
		words []string
		cur   strings.Builder
		inTok bool
	)
	flush := func() {
		if inTok {
			words = append(words, cur.String())
			cur.Reset()
			inTok = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == 0:
			return nil, errors.New("command contains a NUL byte")
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			flush()
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errors.New("command ends with a lone backslash")
			}
			i++
			if line[i] != '\n' { // backslash-newline is a line continuation
				cur.WriteByte(line[i])
				inTok = true
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unbalanced single quote in command")
			}
			cur.WriteString(line[i+1 : i+1+end])
			inTok = true
			i += end + 1
		case c == '"':
			inTok = true
			closed := false
			for i++; i < len(line); i++ {
				d := line[i]
				if d == '"' {
					closed = true
					break
				}
				if d == 0 {
					return nil, errors.New("command contains a NUL byte")
				}
				if d == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`\n", line[i+1]) >= 0 {
					i++
					if line[i] != '\n' {
						cur.WriteByte(line[i])
					}
					continue
				}
				cur.WriteByte(d)
			}
			if !closed {
				return nil, errors.New("unbalanced double quote in command")
			}
		case strings.IndexByte(";|&<>`$", c) >= 0:
			return nil, fmt.Errorf("%q: there is no shell here; run one node-switch command per SSH call and quote literal text", string(c))
		default:
			cur.WriteByte(c)
			inTok = true
		}
		if len(words) > MaxWords {
			return nil, fmt.Errorf("command has more than %d words", MaxWords)
		}
	}
	flush()
	if len(words) > MaxWords {
		return nil, fmt.Errorf("command has more than %d words", MaxWords)
	}
	return words, nil
}
