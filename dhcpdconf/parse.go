// Package dhcpdconf reads and writes the part of ISC dhcpd.conf that a
// PXE cluster's reservations live in: groups with a boot file, host
// declarations, subnets and their shared options. It lets a site move from
// the classic dhcpd setup to node-switch and back without retyping a MAC.
//
// A real site's file holds much more (pools, classes, failover, DDNS keys,
// event hooks, conditionals); Parse reads all of it, keeps what node-switch
// has a place for and reports every other statement as a Note, so only
// malformed text stops an import.
package dhcpdconf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
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
	File       string
	Line       int
	// Cluster, Profile, Kind, NFSRoot and FilesDir come from a "#
	// node-switch" annotation left by an export; empty when the file was
	// written by hand.
	Cluster, Profile, Kind, NFSRoot, FilesDir string
}

// Subnet is one "subnet A netmask M" declaration.
type Subnet struct {
	Prefix  netip.Prefix
	Options Options
	File    string
	Line    int
}

// Group is one "group" block: the source system kept one per logical
// cluster, with the cluster's boot file.
type Group struct {
	Filename                                  string
	Cluster, Profile, Kind, NFSRoot, FilesDir string // from a "# node-switch" annotation
	File                                      string
	Line                                      int
}

// Annotation is a "# node-switch-nfsroot key=value ..." line written by
// export: a catalog entry that dhcpd.conf has no statement for.
type Annotation struct {
	Fields map[string]string
	File   string
	Line   int
}

// Note is a statement that is valid dhcpd.conf but not imported: what it
// was and why node-switch has no place for it.
type Note struct {
	File      string
	Line      int
	What, Why string
}

func (n Note) String() string { return fmt.Sprintf("%s:%d: %s: %s", n.File, n.Line, n.What, n.Why) }

// Config is what Parse understood of a file and the files it includes.
type Config struct {
	Global   Options
	Groups   []Group
	Subnets  []Subnet
	Hosts    []Host
	NFSRoots []Annotation
	Skipped  []Note // in file order, included files at their include
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
			// dhcpd lets a string run over several lines; the token keeps
			// the line it starts on.
			start := line
			j := i + 1
			var b strings.Builder
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
				}
				if src[j] == '\n' {
					line++
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, &Error{file, start, "string opened here is not closed (missing '\"')"}
			}
			toks = append(toks, token{text: b.String(), line: start, quoted: true})
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
	// read loads an included file; nil where includes cannot be followed
	// (inside a commented-out host).
	read func(string) ([]byte, error)
	// chain is the files being parsed, outermost first, to catch cycles.
	chain []string
}

// ParseFile reads a dhcpd.conf and the files it includes. A relative
// include is looked up in the directory of the file that includes it.
func ParseFile(file string) (*Config, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parse(file, string(src), os.ReadFile)
}

// Parse reads a dhcpd.conf given as text; its includes are read from disk
// relative to file's directory. Any error names file:line and nothing is
// returned, so an import is all or nothing.
func Parse(file, src string) (*Config, error) { return parse(file, src, os.ReadFile) }

func parse(file, src string, read func(string) ([]byte, error)) (*Config, error) {
	toks, err := lex(file, src)
	if err != nil {
		return nil, err
	}
	p := &parser{file: file, toks: toks, cfg: &Config{}, read: read, chain: []string{canonical(file)}}
	if _, err := p.block(&p.cfg.Global, 0, nil); err != nil {
		return nil, err
	}
	type at struct {
		file string
		line int
	}
	seen := map[string]at{}
	for _, h := range p.cfg.Hosts {
		if first, dup := seen[h.Name]; dup {
			return nil, &Error{h.File, h.Line, fmt.Sprintf("host %s declared twice (first at %s:%d)", h.Name, first.file, first.line)}
		}
		seen[h.Name] = at{h.File, h.Line}
	}
	return p.cfg, nil
}

// canonical names a file for cycle detection: the same file reached by two
// spellings (or a symlink) is one file.
func canonical(file string) string {
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	return file
}

func (p *parser) errf(line int, format string, args ...any) error {
	return &Error{p.file, line, fmt.Sprintf(format, args...)}
}

func (p *parser) note(line int, what, why string) {
	p.cfg.Skipped = append(p.cfg.Skipped, Note{p.file, line, what, why})
}

// block parses statements until the closing brace of a block opened at
// line open, or to the end of the file when open is 0. opts is the scope's
// options, inherited from the enclosing scope; annot is the "# node-switch"
// annotation in force.
func (p *parser) block(opts *Options, open int, annot map[string]string) (map[string]string, error) {
	for {
		if p.pos >= len(p.toks) {
			if open > 0 {
				return nil, p.errf(open, "missing '}': the block opened on this line is not closed by the end of the file")
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
			if open == 0 {
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

// annotationFields splits "k=v k2=\"v 2\"" into a map.
func annotationFields(s string) (map[string]string, bool) {
	m := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, false
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, false
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexAny(rest, " \t")
			if end < 0 {
				end = len(rest)
			}
			v, rest = rest[:end], rest[end:]
		}
		m[k] = v
		s = rest
	}
	return m, true
}

// comment handles the kinds of comment that carry meaning: a commented-out
// host (a masked node, as the source system's mask script left them) and
// annotations written by export. Any other comment is just a comment.
func (p *parser) comment(t token, opts *Options, annot *map[string]string) error {
	text := strings.TrimSpace(t.text)
	if rest, ok := strings.CutPrefix(text, "node-switch-nfsroot "); ok {
		m, ok := annotationFields(rest)
		if !ok {
			p.note(t.line, "comment "+strconv.Quote(text), "not a node-switch annotation (want key=value words); ignored")
			return nil
		}
		p.cfg.NFSRoots = append(p.cfg.NFSRoots, Annotation{Fields: m, File: p.file, Line: t.line})
		return nil
	}
	if rest, ok := strings.CutPrefix(text, "node-switch "); ok {
		m, ok := annotationFields(rest)
		if !ok {
			p.note(t.line, "comment "+strconv.Quote(text), "not a node-switch annotation (want key=value words); ignored")
			return nil
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
	if !strings.Contains(src, "{") {
		return nil // prose that starts with "host", not a declaration
	}
	reason := p.maskReason
	p.maskReason = ""
	toks, err := lex(p.file, src)
	if err == nil {
		for i := range toks {
			toks[i].line += t.line - 1
		}
		sub := &parser{file: p.file, toks: toks, cfg: &Config{}, chain: p.chain}
		local := *opts
		if _, err = sub.block(&local, 0, *annot); err == nil {
			for _, h := range sub.cfg.Hosts {
				h.Masked, h.MaskReason = true, reason
				p.cfg.Hosts = append(p.cfg.Hosts, h)
			}
			for _, n := range sub.cfg.Skipped {
				n.What = "commented-out " + n.What
				p.cfg.Skipped = append(p.cfg.Skipped, n)
			}
			return nil
		}
	}
	// It is a comment to dhcpd whatever it holds, so it cannot stop the
	// import; it just does not become a masked node.
	p.note(t.line, "commented-out "+firstLine(src), fmt.Sprintf("does not parse as a host (%v), so it is not imported as a masked node", stripPos(err)))
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 60 {
		l = l[:57] + "..."
	}
	return l
}

func stripPos(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Msg
	}
	return err.Error()
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
			if len(ws) == 0 {
				return nil, "", p.errf(t.line, "'}' without a matching '{'")
			}
			return nil, "", p.errf(ws[len(ws)-1].line, "missing ';' after %s", render(ws))
		}
		ws = append(ws, t)
	}
	if len(ws) == 0 {
		return nil, "", p.errf(start, "unexpected end of file")
	}
	return nil, "", p.errf(ws[len(ws)-1].line, "missing ';' after %s at end of file", render(ws))
}

// render writes words back as dhcpd.conf text, for messages.
func render(ts []token) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 && t.text != "," {
			b.WriteByte(' ')
		}
		if t.quoted {
			b.WriteString(strconv.Quote(t.text))
		} else {
			b.WriteString(t.text)
		}
	}
	s := b.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// starters are words that begin a statement or declaration: found at the
// start of a line in the middle of a statement, they mean the previous line
// lacks its ';'.
var starters = map[string]bool{
	"host": true, "group": true, "subnet": true, "subnet6": true, "shared-network": true, "pool": true,
	"class": true, "subclass": true, "failover": true, "key": true, "zone": true, "include": true,
	"filename": true, "next-server": true, "default-lease-time": true, "max-lease-time": true,
	"range": true, "hardware": true, "fixed-address": true, "option": true, "authoritative": true,
	"ddns-update-style": true, "on": true,
}

// continues are words after which a statement naturally goes on to the
// next line (expressions in match/if statements).
var continues = map[string]bool{"if": true, "and": true, "or": true, "not": true, "=": true, "!=": true, "~=": true, "~~": true, ",": true, "exists": true}

// runOn finds two statements run together by a missing ';': a statement
// keyword at the start of a line, inside one statement.
func (p *parser) runOn(ws []token) error {
	for i := 1; i < len(ws); i++ {
		prev, w := ws[i-1], ws[i]
		if w.quoted || w.line == prev.line || !starters[strings.ToLower(w.text)] {
			continue
		}
		if !prev.quoted && (continues[strings.ToLower(prev.text)] || strings.HasSuffix(prev.text, "(")) {
			continue
		}
		return p.errf(prev.line, "missing ';' after %s", render(ws[:i]))
	}
	return nil
}

// skippedBlocks are dhcpd declarations node-switch has no place for, with
// the reason given for each.
var skippedBlocks = map[string]string{
	"pool":         "node-switch serves reservations only, no dynamic pool",
	"pool6":        "node-switch serves reservations only, no dynamic pool",
	"class":        "classes are not imported; boot file comes from the node's cluster",
	"subclass":     "classes are not imported; boot file comes from the node's cluster",
	"vendor-class": "classes are not imported; boot file comes from the node's cluster",
	"user-class":   "classes are not imported; boot file comes from the node's cluster",
	"if":           "conditional statements are not imported; boot file comes from the node's cluster, by firmware from its profile",
	"elsif":        "conditional statements are not imported; boot file comes from the node's cluster, by firmware from its profile",
	"else":         "conditional statements are not imported; boot file comes from the node's cluster, by firmware from its profile",
	"switch":       "conditional statements are not imported; boot file comes from the node's cluster, by firmware from its profile",
	"on":           "lease event actions are not imported: node-switch keeps no leases (its logbook and hooks record changes)",
	"failover":     "node-switch has no failover pair: every head node serving the inventory answers",
	"key":          "node-switch does no dynamic DNS updates",
	"zone":         "node-switch does no dynamic DNS updates",
	"subnet6":      "node-switch serves DHCPv4 only",
	"group":        "", // ours; listed so a run-on with it is caught
	"subnet":       "",
	"host":         "",
}

// skippedStatements are dhcpd statements node-switch has no use for, with
// the reason given for each (see option for "option").
var skippedStatements = map[string]string{
	"range":                    "node-switch serves reservations only, no dynamic pool",
	"range6":                   "node-switch serves reservations only, no dynamic pool",
	"prefix6":                  "node-switch serves reservations only, no dynamic pool",
	"authoritative":            "node-switch answers only nodes it holds a reservation for",
	"not":                      "node-switch answers only nodes it holds a reservation for",
	"allow":                    "node-switch answers only nodes it holds a reservation for",
	"deny":                     "node-switch answers only nodes it holds a reservation for",
	"ignore":                   "node-switch answers only nodes it holds a reservation for",
	"boot-unknown-clients":     "node-switch answers only nodes it holds a reservation for",
	"max-lease-time":           "node-switch keeps one lease time per subnet, from default-lease-time",
	"min-lease-time":           "node-switch keeps one lease time per subnet, from default-lease-time",
	"dynamic-bootp-lease-time": "node-switch keeps one lease time per subnet, from default-lease-time",
	"subclass":                 "classes are not imported; boot file comes from the node's cluster",
	"match":                    "classes are not imported; boot file comes from the node's cluster",
	"spawn":                    "classes are not imported; boot file comes from the node's cluster",
	"lease":                    "classes are not imported; boot file comes from the node's cluster",
	"failover":                 "node-switch has no failover pair: every head node serving the inventory answers",
	"set":                      "executable statements are not imported",
	"unset":                    "executable statements are not imported",
	"execute":                  "executable statements are not imported",
	"log":                      "executable statements are not imported",
	"eval":                     "executable statements are not imported",
	"return":                   "executable statements are not imported",
	"primary":                  "node-switch does no dynamic DNS updates",
	"secondary":                "node-switch does no dynamic DNS updates",
	"algorithm":                "node-switch does no dynamic DNS updates",
	"secret":                   "node-switch does no dynamic DNS updates",
	"hardware":                 "a hardware address outside a host declaration reserves nothing",
	"fixed-address":            "an address outside a host declaration reserves nothing",
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
	if err := p.runOn(ws); err != nil {
		return err
	}
	kw := strings.ToLower(ws[0].text)
	if end == "{" {
		local := *opts
		switch kw {
		case "group":
			a, err := p.block(&local, line, annot)
			if err != nil {
				return err
			}
			p.cfg.Groups = append(p.cfg.Groups, Group{Filename: local.Filename, Cluster: a["cluster"], Profile: a["profile"], Kind: a["kind"], NFSRoot: a["nfsroot"],
				FilesDir: a["files"], File: p.file, Line: line})
			return nil
		case "subnet":
			if len(ws) != 4 || strings.ToLower(ws[2].text) != "netmask" {
				return p.errf(line, "want 'subnet ADDRESS netmask MASK {'")
			}
			prefix, err := parsePrefix(ws[1].text, ws[3].text)
			if err != nil {
				return p.errf(line, "%v", err)
			}
			if _, err := p.block(&local, line, annot); err != nil {
				return err
			}
			p.cfg.Subnets = append(p.cfg.Subnets, Subnet{Prefix: prefix, Options: local, File: p.file, Line: line})
			return nil
		case "shared-network":
			// Its subnets, groups and hosts are ours; only the grouping of
			// subnets on one wire has no place in node-switch.
			p.note(line, render(ws), "the grouping is not kept; its subnets, groups and hosts are imported")
			_, err := p.block(&local, line, annot)
			return err
		case "host":
			if len(ws) != 2 {
				return p.errf(line, "want 'host NAME {'")
			}
			return p.host(ws[1].text, line, local, annot)
		}
		if why, ok := skippedBlocks[kw]; ok {
			if err := p.skipBlock(line); err != nil {
				return err
			}
			if kw == "if" {
				if err := p.skipElse(); err != nil {
					return err
				}
			}
			p.note(line, render(ws)+" { ... }", why)
			return nil
		}
		for i, w := range ws[1:] {
			if _, block := skippedBlocks[strings.ToLower(w.text)]; block && !w.quoted {
				return p.errf(ws[i].line, "missing ';' after %s", render(ws[:i+1]))
			}
		}
		return p.errf(line, "unknown declaration %q: dhcpd.conf has no such block", ws[0].text)
	}
	if kw == "include" {
		return p.include(ws, line, opts, annot)
	}
	return p.option(ws, line, opts)
}

// skipBlock passes over a block whose '{' was just read, nested blocks,
// strings and comments included.
func (p *parser) skipBlock(open int) error {
	depth := 1
	for ; p.pos < len(p.toks); p.pos++ {
		t := p.toks[p.pos]
		if t.quoted || t.comment {
			continue
		}
		switch t.text {
		case "{":
			depth++
		case "}":
			depth--
			if depth == 0 {
				p.pos++
				return nil
			}
		}
	}
	return p.errf(open, "missing '}': the block opened on this line is not closed by the end of the file")
}

// skipElse passes over the "elsif ... { }" and "else { }" arms that belong
// to an if just skipped, so they are part of its note.
func (p *parser) skipElse() error {
	for {
		i := p.pos
		for i < len(p.toks) && p.toks[i].comment {
			i++
		}
		if i >= len(p.toks) || p.toks[i].quoted {
			return nil
		}
		if w := strings.ToLower(p.toks[i].text); w != "else" && w != "elsif" {
			return nil
		}
		p.pos = i
		line := p.toks[i].line
		ws, end, err := p.words()
		if err != nil {
			return err
		}
		if end != "{" {
			return p.errf(line, "want '{' after %s", render(ws))
		}
		if err := p.skipBlock(line); err != nil {
			return err
		}
	}
}

// include parses another file in the current scope, as dhcpd does.
func (p *parser) include(ws []token, line int, opts *Options, annot map[string]string) error {
	if len(ws) != 2 || !ws[1].quoted {
		return p.errf(line, "want 'include \"FILE\";'")
	}
	if p.read == nil {
		p.note(line, render(ws), "not followed inside a comment")
		return nil
	}
	path := ws[1].text
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(p.file), path)
	}
	c := canonical(path)
	for _, f := range p.chain {
		if f == c {
			return p.errf(line, "include %q: include cycle (%s includes itself through %s)", ws[1].text, path, strings.Join(p.chain, " -> "))
		}
	}
	src, err := p.read(path)
	if err != nil {
		return p.errf(line, "include %q: %v", ws[1].text, err)
	}
	toks, err := lex(path, string(src))
	if err == nil {
		child := &parser{file: path, toks: toks, cfg: p.cfg, read: p.read, chain: append(p.chain[:len(p.chain):len(p.chain)], c)}
		_, err = child.block(opts, 0, annot)
	}
	var pe *Error
	if errors.As(err, &pe) && pe.File != p.file && !strings.Contains(pe.Msg, "(included from") {
		pe.Msg += fmt.Sprintf(" (included from %s:%d)", p.file, line)
	}
	return err
}

func (p *parser) host(name string, line int, opts Options, annot map[string]string) error {
	h := Host{Name: name, File: p.file, Line: line, Cluster: annot["cluster"], Profile: annot["profile"], Kind: annot["kind"], NFSRoot: annot["nfsroot"],
		FilesDir: annot["files"]}
	skip := "" // why the whole host is not imported
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
		if len(ws) == 0 {
			if end == "{" {
				return p.errf(sl, "host %s: '{' without a declaration before it", name)
			}
			continue
		}
		if err := p.runOn(ws); err != nil {
			return err
		}
		if end == "{" {
			kw := strings.ToLower(ws[0].text)
			if why := skippedBlocks[kw]; why != "" {
				if err := p.skipBlock(sl); err != nil {
					return err
				}
				if kw == "if" {
					if err := p.skipElse(); err != nil {
						return err
					}
				}
				p.note(sl, fmt.Sprintf("host %s: %s { ... }", name, render(ws)), why)
				continue
			}
			return p.errf(sl, "host %s: %s cannot be declared inside a host (missing '}' before it?)", name, render(ws))
		}
		switch strings.ToLower(ws[0].text) {
		case "hardware":
			if len(ws) != 3 {
				return p.errf(sl, "host %s: want 'hardware TYPE ADDRESS;'", name)
			}
			if strings.ToLower(ws[1].text) != "ethernet" {
				skip = fmt.Sprintf("hardware %s: node-switch reserves by Ethernet MAC only", ws[1].text)
				continue
			}
			h.MAC = ws[2].text
		case "fixed-address":
			if len(ws) != 2 {
				skip = "several fixed addresses: node-switch reserves one address per node"
				continue
			}
			ip, name, err := addrOrName(ws[1])
			if err != nil {
				return p.errf(sl, "host %s: fixed-address %v", h.Name, err)
			}
			if name {
				skip = fmt.Sprintf("fixed-address %s is a host name: node-switch does not resolve names; write the IPv4 address", ws[1].text)
				continue
			}
			h.IP = ip
		case "include":
			if err := p.include(ws, sl, &opts, annot); err != nil {
				return err
			}
		default:
			if err := p.option(ws, sl, &opts); err != nil {
				return err
			}
		}
	}
	switch {
	case skip != "":
	case h.MAC == "":
		skip = "no 'hardware ethernet': node-switch reserves by MAC"
	case !h.IP.IsValid():
		skip = "no fixed-address: node-switch serves reservations only, no dynamic pool"
	}
	if skip != "" {
		p.note(line, "host "+name, skip)
		return nil
	}
	h.Filename = opts.Filename
	p.cfg.Hosts = append(p.cfg.Hosts, h)
	return nil
}

// addrOrName reads an address that dhcpd would also take as a host name.
// A dotted number that is not an IPv4 address is an error, as in dhcpd.
func addrOrName(t token) (a netip.Addr, name bool, err error) {
	if a, err := netip.ParseAddr(t.text); err == nil && a.Is4() {
		return a, false, nil
	}
	if strings.Trim(t.text, "0123456789.") == "" || t.quoted || !isName(t.text) {
		return netip.Addr{}, false, fmt.Errorf("%q is not an IPv4 address", t.text)
	}
	return netip.Addr{}, true, nil
}

// isName says whether s is a DNS name as dhcpd accepts one.
func isName(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '.' && r != '_' {
			return false
		}
	}
	return s != ""
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

// addrList reads a comma-separated address list. A host name in it (legal
// in dhcpd, resolved by dhcpd at startup) is returned as name: node-switch
// does not resolve names, so the statement is noted instead of kept.
func (p *parser) addrList(ws []token, line int, what string) (out []netip.Addr, name string, err error) {
	for _, w := range ws {
		if w.text == "," && !w.quoted {
			continue
		}
		a, isName, err := addrOrName(w)
		if err != nil {
			return nil, "", p.errf(line, "%s: %v", what, err)
		}
		if isName {
			return nil, w.text, nil
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, "", p.errf(line, "%s: no address", what)
	}
	return out, "", nil
}

// keptOptions are the options node-switch has a place for, in the words
// the notes use.
const keptOptions = "node-switch keeps only the options routers, domain-name-servers, domain-name and subnet-mask"

func (p *parser) option(ws []token, line int, opts *Options) error {
	kw := strings.ToLower(ws[0].text)
	if strings.HasPrefix(kw, "ddns-") || kw == "update-static-leases" || kw == "update-optimization" || kw == "update-conflict-detection" {
		kw = "ddns-"
	}
	args := ws[1:]
	one := func() (token, error) {
		if len(args) != 1 {
			return token{}, p.errf(line, "%s: want one value, got %s", kw, render(args))
		}
		return args[0], nil
	}
	unresolved := func(name string) {
		p.note(line, render(ws), fmt.Sprintf("%s is a host name and node-switch does not resolve names: set the address with 'subnet set'", name))
	}
	switch kw {
	case "filename":
		v, err := one()
		if err != nil {
			return err
		}
		opts.Filename = v.text
	case "next-server":
		v, err := one()
		if err != nil {
			return err
		}
		a, name, err := addrOrName(v)
		if err != nil {
			return p.errf(line, "next-server %v", err)
		}
		if name {
			unresolved(v.text)
			return nil
		}
		opts.NextServer = a
	case "default-lease-time":
		v, err := one()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(v.text)
		if err != nil || n <= 0 {
			return p.errf(line, "default-lease-time %q is not a positive number of seconds", v.text)
		}
		opts.LeaseTime = time.Duration(n) * time.Second
	case "option":
		if len(args) < 2 {
			return p.errf(line, "option: want a name and a value")
		}
		name, vals := strings.ToLower(args[0].text), args[1:]
		if name == "space" || strings.ToLower(vals[0].text) == "code" {
			p.note(line, render(ws), "option definitions are not needed: node-switch sends only the options it keeps")
			return nil
		}
		var (
			as     []netip.Addr
			host   string
			err    error
			target *[]netip.Addr
		)
		switch name {
		case "routers":
			target = &opts.Routers
		case "domain-name-servers":
			target = &opts.DNS
		case "subnet-mask":
			as, host, err = p.addrList(vals, line, "option subnet-mask")
			if err != nil {
				return err
			}
			if host != "" || len(as) != 1 {
				return p.errf(line, "option subnet-mask: want one IPv4 mask")
			}
			if _, ok := maskBits(as[0]); !ok {
				return p.errf(line, "option subnet-mask %s is not contiguous", as[0])
			}
			opts.Mask = as[0]
			return nil
		case "domain-name":
			if len(vals) != 1 {
				return p.errf(line, "option domain-name: want one quoted name")
			}
			opts.Domain = vals[0].text
			return nil
		default:
			p.note(line, render(ws), keptOptions)
			return nil
		}
		as, host, err = p.addrList(vals, line, "option "+name)
		if err != nil {
			return err
		}
		if host != "" {
			unresolved(host)
			return nil
		}
		*target = as
	case "ddns-":
		p.note(line, render(ws), "node-switch does no dynamic DNS updates")
	default:
		why, ok := skippedStatements[kw]
		switch {
		case ok:
		case !isWord(kw):
			return p.errf(line, "unexpected %q at the start of a statement", ws[0].text)
		default:
			// dhcpd has well over a hundred server parameters; one this
			// list does not know is still no reason to refuse a file dhcpd
			// accepts.
			why = "not used by node-switch"
		}
		p.note(line, render(ws), why)
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
