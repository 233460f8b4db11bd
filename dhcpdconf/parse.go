// Package dhcpdconf reads and writes the part of ISC dhcpd.conf that a
// PXE cluster's reservations live in: groups with a boot file, host
// declarations, subnets and their shared options. It lets a site move from
// the classic dhcpd setup to node-switch and back without retyping a MAC.
package dhcpdconf

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Options are the shared options node-switch keeps a place for.
type Options struct {
	Routers    []netip.Addr
	DNS        []netip.Addr
	Domain     string
	NextServer netip.Addr
	Mask       netip.Addr // option subnet-mask
	LeaseTime  time.Duration
	Filename   string
}

// Host is one "host" declaration.
type Host struct {
	Name     string
	MAC      string
	IP       netip.Addr
	Filename string // the boot file in force for it (own, group's or global)
	Masked   bool   // the declaration was commented out
	// MaskReason comes from a "# masked: REASON" line written by export.
	MaskReason string
	Line       int
	// Cluster, Profile and Kind come from a "# node-switch" annotation left
	// by an export; empty when the file was written by hand.
	Cluster, Profile, Kind string
}

// Subnet is one "subnet A netmask M" declaration.
type Subnet struct {
	Prefix  netip.Prefix
	Options Options
	Line    int
}

// Group is one "group" block: the source system kept one per logical
// cluster, with the cluster's boot file.
type Group struct {
	Filename               string
	Cluster, Profile, Kind string // from a "# node-switch" annotation
	Line                   int
}

// Config is what Parse understood of a file.
type Config struct {
	Global   Options
	Groups   []Group
	Subnets  []Subnet
	Hosts    []Host
	Warnings []string // statements that were understood but have no place in node-switch
}

// Error is a parse error at a line of a file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

type token struct {
	text    string
	line    int
	quoted  bool
	comment bool // a whole comment, text without the leading '#'
}

func lex(file, src string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				j = len(src) - i
			}
			toks = append(toks, token{text: src[i+1 : i+j], line: line, comment: true})
			i += j
		case c == '"':
			j := i + 1
			var b strings.Builder
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\n' {
					return nil, &Error{file, line, "string not closed before the end of the line"}
				}
				if src[j] == '\\' && j+1 < len(src) {
					j++
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, &Error{file, line, "string not closed"}
			}
			toks = append(toks, token{text: b.String(), line: line, quoted: true})
			i = j + 1
		case c == '{' || c == '}' || c == ';' || c == ',':
			toks = append(toks, token{text: string(c), line: line})
			i++
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\r\n{};,#\"", rune(src[j])) {
				j++
			}
			toks = append(toks, token{text: src[i:j], line: line})
			i = j
		}
	}
	return toks, nil
}

type parser struct {
	maskReason string // from a "# masked:" line, for the next commented host
	file       string
	toks       []token
	pos        int
	cfg        *Config
}

// Parse reads a dhcpd.conf. Any error names file:line and nothing of the
// file is returned, so an import is all or nothing.
func Parse(file, src string) (*Config, error) {
	toks, err := lex(file, src)
	if err != nil {
		return nil, err
	}
	p := &parser{file: file, toks: toks, cfg: &Config{}}
	if _, err := p.block(&p.cfg.Global, false, nil); err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for _, h := range p.cfg.Hosts {
		if l, dup := seen[h.Name]; dup {
			return nil, &Error{file, h.Line, fmt.Sprintf("host %s declared twice (first at line %d)", h.Name, l)}
		}
		seen[h.Name] = h.Line
	}
	return p.cfg, nil
}

func (p *parser) errf(line int, format string, args ...any) error {
	return &Error{p.file, line, fmt.Sprintf(format, args...)}
}

func (p *parser) lastLine() int {
	if len(p.toks) == 0 {
		return 1
	}
	return p.toks[len(p.toks)-1].line
}

// block parses statements until the closing brace (nested) or end of file
// (top level). opts is the scope's options, inherited from the enclosing
// scope; annot is the "# node-switch" annotation in force.
func (p *parser) block(opts *Options, nested bool, annot map[string]string) (map[string]string, error) {
	for {
		if p.pos >= len(p.toks) {
			if nested {
				return nil, p.errf(p.lastLine(), "missing '}' at end of file")
			}
			return annot, nil
		}
		t := p.toks[p.pos]
		if t.comment {
			p.pos++
			if err := p.comment(t, opts, &annot); err != nil {
				return nil, err
			}
			continue
		}
		if t.text == "}" && !t.quoted {
			if !nested {
				return nil, p.errf(t.line, "'}' without a matching '{'")
			}
			p.pos++
			return annot, nil
		}
		if err := p.statement(opts, annot); err != nil {
			return nil, err
		}
	}
}

// comment handles the two kinds of comment that carry meaning: a
// commented-out host (a masked node, as the source system's mask script
// left them) and an annotation written by export.
func (p *parser) comment(t token, opts *Options, annot *map[string]string) error {
	text := strings.TrimSpace(t.text)
	if rest, ok := strings.CutPrefix(text, "node-switch "); ok {
		m := map[string]string{}
		for _, f := range strings.Fields(rest) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return p.errf(t.line, "node-switch annotation %q: want key=value words", text)
			}
			m[k] = v
		}
		*annot = m
		return nil
	}
	if rest, ok := strings.CutPrefix(text, "masked:"); ok {
		p.maskReason = strings.TrimSpace(rest)
		return nil
	}
	if !strings.HasPrefix(text, "host ") && !strings.HasPrefix(text, "host\t") {
		return nil
	}
	// A commented host may span several comment lines: gather them until
	// its braces balance, then parse it like live text.
	src := text
	depth := strings.Count(text, "{") - strings.Count(text, "}")
	for depth > 0 && p.pos < len(p.toks) && p.toks[p.pos].comment {
		more := strings.TrimSpace(p.toks[p.pos].text)
		src += "\n" + more
		depth += strings.Count(more, "{") - strings.Count(more, "}")
		p.pos++
	}
	toks, err := lex(p.file, src)
	if err != nil {
		return err
	}
	for i := range toks {
		toks[i].line += t.line - 1
	}
	sub := &parser{file: p.file, toks: toks, cfg: &Config{}}
	local := *opts
	if _, err := sub.block(&local, false, *annot); err != nil {
		return p.errf(t.line, "commented-out host does not parse: %v", err)
	}
	for _, h := range sub.cfg.Hosts {
		h.Masked, h.MaskReason = true, p.maskReason
		p.cfg.Hosts = append(p.cfg.Hosts, h)
	}
	p.maskReason = ""
	return nil
}

// words reads a statement's words up to ';' or '{'.
func (p *parser) words() ([]token, string, error) {
	var ws []token
	start := p.toks[p.pos].line
	for p.pos < len(p.toks) {
		t := p.toks[p.pos]
		p.pos++
		if t.comment {
			continue
		}
		if !t.quoted && (t.text == ";" || t.text == "{") {
			return ws, t.text, nil
		}
		if !t.quoted && t.text == "}" {
			return nil, "", p.errf(t.line, "missing ';' after %q", joinTokens(ws))
		}
		ws = append(ws, t)
	}
	return nil, "", p.errf(start, "missing ';' after %q at end of file", joinTokens(ws))
}

func joinTokens(ts []token) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.text
	}
	return strings.Join(s, " ")
}

func (p *parser) statement(opts *Options, annot map[string]string) error {
	line := p.toks[p.pos].line
	ws, end, err := p.words()
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		if end == "{" {
			return p.errf(line, "'{' without a declaration before it")
		}
		return nil // a stray ';' is legal in dhcpd.conf
	}
	kw := strings.ToLower(ws[0].text)
	if end == "{" {
		local := *opts
		switch kw {
		case "group":
			a, err := p.block(&local, true, annot)
			if err != nil {
				return err
			}
			p.cfg.Groups = append(p.cfg.Groups, Group{Filename: local.Filename, Cluster: a["cluster"], Profile: a["profile"], Kind: a["kind"], Line: line})
			return nil
		case "subnet":
			if len(ws) != 4 || strings.ToLower(ws[2].text) != "netmask" {
				return p.errf(line, "want 'subnet ADDRESS netmask MASK {'")
			}
			prefix, err := parsePrefix(ws[1].text, ws[3].text)
			if err != nil {
				return p.errf(line, "%v", err)
			}
			if _, err := p.block(&local, true, annot); err != nil {
				return err
			}
			p.cfg.Subnets = append(p.cfg.Subnets, Subnet{Prefix: prefix, Options: local, Line: line})
			return nil
		case "host":
			if len(ws) != 2 {
				return p.errf(line, "want 'host NAME {'")
			}
			return p.host(ws[1].text, line, local, annot)
		case "shared-network", "pool", "class", "subclass", "if", "elsif", "else":
			return p.errf(line, "%s blocks are not supported: node-switch keeps reservations only", kw)
		default:
			for _, w := range ws[1:] {
				if b := strings.ToLower(w.text); !w.quoted && (b == "host" || b == "group" || b == "subnet") {
					return p.errf(line, "missing ';' after %q", joinTokens(ws[:slices.Index(ws, w)]))
				}
			}
			return p.errf(line, "unknown block %q", kw)
		}
	}
	return p.option(ws, line, opts)
}

func (p *parser) host(name string, line int, opts Options, annot map[string]string) error {
	h := Host{Name: name, Line: line, Cluster: annot["cluster"], Profile: annot["profile"], Kind: annot["kind"]}
	for {
		if p.pos >= len(p.toks) {
			return p.errf(line, "host %s: missing '}'", name)
		}
		t := p.toks[p.pos]
		if t.comment {
			p.pos++
			continue
		}
		if t.text == "}" && !t.quoted {
			p.pos++
			break
		}
		sl := t.line
		ws, end, err := p.words()
		if err != nil {
			return err
		}
		if end == "{" {
			return p.errf(sl, "host %s: unexpected block inside a host", name)
		}
		if len(ws) == 0 {
			continue
		}
		switch strings.ToLower(ws[0].text) {
		case "hardware":
			if len(ws) != 3 || strings.ToLower(ws[1].text) != "ethernet" {
				return p.errf(sl, "host %s: want 'hardware ethernet MAC;'", name)
			}
			h.MAC = ws[2].text
		case "fixed-address":
			if len(ws) != 2 {
				return p.errf(sl, "host %s: want one address after fixed-address (node-switch reserves one per node)", name)
			}
			ip, err := netip.ParseAddr(ws[1].text)
			if err != nil || !ip.Is4() {
				return p.errf(sl, "host %s: fixed-address %q is not an IPv4 address (host names are not resolved)", name, ws[1].text)
			}
			h.IP = ip
		default:
			if err := p.option(ws, sl, &opts); err != nil {
				return err
			}
		}
	}
	if h.MAC == "" {
		return p.errf(line, "host %s: no 'hardware ethernet'", name)
	}
	if !h.IP.IsValid() {
		return p.errf(line, "host %s: no fixed-address (node-switch has no pool; every node needs one)", name)
	}
	h.Filename = opts.Filename
	p.cfg.Hosts = append(p.cfg.Hosts, h)
	return nil
}

func parsePrefix(addr, mask string) (netip.Prefix, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet %q is not an IPv4 address", addr)
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || !m.Is4() {
		return netip.Prefix{}, fmt.Errorf("netmask %q is not an IPv4 mask", mask)
	}
	bits, ok := maskBits(m)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("netmask %s is not contiguous", mask)
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

func maskBits(m netip.Addr) (int, bool) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	return bits, v == 0
}

func (p *parser) addrList(ws []token, line int, what string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, w := range ws {
		if w.text == "," {
			continue
		}
		a, err := netip.ParseAddr(w.text)
		if err != nil || !a.Is4() {
			return nil, p.errf(line, "%s: %q is not an IPv4 address", what, w.text)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, p.errf(line, "%s: no address", what)
	}
	return out, nil
}

// ignored statements are legal dhcpd.conf that node-switch has no use for;
// they are reported as warnings rather than errors so a real site's file
// imports.
var ignored = map[string]bool{
	"authoritative": true, "not": true, "ddns-update-style": true, "ddns-updates": true, "allow": true,
	"deny": true, "ignore": true, "log-facility": true, "max-lease-time": true, "min-lease-time": true,
	"use-host-decl-names": true, "get-lease-hostnames": true, "one-lease-per-client": true,
	"ping-check": true, "server-name": true, "server-identifier": true, "local-address": true,
	"always-broadcast": true, "update-static-leases": true,
}

func (p *parser) option(ws []token, line int, opts *Options) error {
	kw := strings.ToLower(ws[0].text)
	args := ws[1:]
	one := func(what string) (string, error) {
		if len(args) != 1 {
			return "", p.errf(line, "%s: want one value", what)
		}
		return args[0].text, nil
	}
	switch kw {
	case "filename":
		v, err := one("filename")
		if err != nil {
			return err
		}
		opts.Filename = v
	case "next-server":
		v, err := one("next-server")
		if err != nil {
			return err
		}
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return p.errf(line, "next-server %q is not an IPv4 address", v)
		}
		opts.NextServer = a
	case "default-lease-time":
		v, err := one("default-lease-time")
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return p.errf(line, "default-lease-time %q is not a positive number of seconds", v)
		}
		opts.LeaseTime = time.Duration(n) * time.Second
	case "option":
		if len(args) < 2 {
			return p.errf(line, "option: want a name and a value")
		}
		name, vals := strings.ToLower(args[0].text), args[1:]
		switch name {
		case "routers":
			as, err := p.addrList(vals, line, "option routers")
			if err != nil {
				return err
			}
			opts.Routers = as
		case "domain-name-servers":
			as, err := p.addrList(vals, line, "option domain-name-servers")
			if err != nil {
				return err
			}
			opts.DNS = as
		case "domain-name":
			if len(vals) != 1 {
				return p.errf(line, "option domain-name: want one quoted name")
			}
			opts.Domain = vals[0].text
		case "subnet-mask":
			as, err := p.addrList(vals, line, "option subnet-mask")
			if err != nil {
				return err
			}
			if _, ok := maskBits(as[0]); !ok {
				return p.errf(line, "option subnet-mask %s is not contiguous", as[0])
			}
			opts.Mask = as[0]
		default:
			p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("%s:%d: option %s ignored", p.file, line, name))
		}
	default:
		if !ignored[kw] {
			if !isWord(kw) {
				return p.errf(line, "unexpected %q", ws[0].text)
			}
			return p.errf(line, "unknown statement %q (missing ';' on the line before?)", ws[0].text)
		}
		p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("%s:%d: %s ignored", p.file, line, kw))
	}
	return nil
}

func isWord(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && r != '-' && r != '_' && !unicode.IsDigit(r) {
			return false
		}
	}
	return s != ""
}
