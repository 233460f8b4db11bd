package nodes

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Free text (reasons, descriptions, comments, actor names) comes from
// every channel: the CLI, an operate-role SSH key, the web console, an
// imported file, a hook. It ends up in rendered boot configs, on an
// administrator's terminal and in the logbook, where a line break becomes
// a boot loader directive and an escape sequence rewrites the screen. So it
// is checked once, here, where it enters the inventory (CheckText), and text
// the inventory only records, such as a hook's output, is escaped instead
// (Escape), which is also what every printer and the template renderer do
// with text stored before the check existed.

// Fields of free text and their caps, in bytes. The caps keep the logbook
// and the listings readable and bound what an operate-role key can store
// per entry; they are well above anything a person types.
const (
	FieldReason      = "reason"        // why a change was made: a sentence or a ticket
	FieldMaskReason  = "mask reason"   // the reason of the mask, kept on the node
	FieldDescription = "description"   // of a cluster or profile: one line in a listing
	FieldComment     = "comment"       // of an SSH key: the user@host of authorized_keys
	FieldActor       = "actor"         // who: a user name, "key SHA256:... (comment)"
	FieldOrigin      = "origin"        // from where: "local" or an address
	FieldTemplate    = "template"      // a template profile's boot loader text
	FieldPath        = "path"          // kernel, initrd, boot file, NFS export ...
	FieldAppend      = "append"        // a kernel command line
	FieldResult      = "result"        // what happened (escaped, never refused)
	FieldHost        = "host"          // a BMC or NFS server address
	FieldOptions     = "options"       // NFS mount options
	FieldUser        = "user"          // a BMC user
	FieldClientText  = "client string" // a DHCP client's vendor class or host name
)

// textCaps are the per-field caps. A kernel command line may be 2048 bytes
// on x86 (COMMAND_LINE_SIZE) and more elsewhere; a template is a whole
// pxelinux or GRUB config, a few KiB in practice; a reason is a sentence.
var textCaps = map[string]int{
	FieldReason:      1024,
	FieldMaskReason:  1024,
	FieldDescription: 256,
	FieldComment:     256,
	FieldActor:       512, // "key SHA256:<43 characters> (" + a comment of up to 256 bytes + ")"
	FieldOrigin:      128,
	FieldTemplate:    64 << 10,
	FieldPath:        1024,
	FieldAppend:      4096,
	FieldResult:      32 << 10,
	FieldHost:        255, // a DNS name
	FieldOptions:     1024,
	FieldUser:        64,
	FieldClientText:  64,
}

// TextCap is the cap of field in bytes (1024 for a field not listed).
func TextCap(field string) int {
	if n, ok := textCaps[field]; ok {
		return n
	}
	return 1024
}

// TextError refuses free text: it names the field, the character and where
// it is, so the operator can find it in what they typed. It is bad input
// (errors.Is(err, ErrInvalid)): the CLI exits 2.
type TextError struct {
	Field string
	// Rune is the refused character, or utf8.RuneError with Byte set for
	// a byte that is not UTF-8. Zero when the text is too long.
	Rune rune
	Byte byte
	// Offset is the refused character's byte offset (0-based), Char its
	// position in characters (1-based), as an editor counts.
	Offset, Char int
	// Len and Max are set when the text is longer than the field's cap.
	Len, Max int
}

func (e *TextError) Error() string {
	switch {
	case e.Max > 0:
		return fmt.Sprintf("%s is %d bytes long, at most %d are allowed", e.Field, e.Len, e.Max)
	case e.Rune == utf8.RuneError:
		return fmt.Sprintf("%s: byte 0x%02X at byte %d (character %d) is not UTF-8", e.Field, e.Byte, e.Offset, e.Char)
	}
	return fmt.Sprintf("%s: character U+%04X (%s) at byte %d (character %d) is not allowed: free text is one line without control characters",
		e.Field, e.Rune, runeName(e.Rune), e.Offset, e.Char)
}

// Unwrap makes a refusal bad input.
func (e *TextError) Unwrap() error { return ErrInvalid }

// CheckText refuses free text for field that holds a character no
// terminal, boot loader config or log line should receive raw, or that is
// longer than the field's cap (TextCap). Refused are:
//   - C0 controls (U+0000-U+001F, line breaks and tabs included) and DEL:
//     a line break is a new boot loader directive, ESC starts a terminal
//     escape sequence;
//   - C1 controls (U+0080-U+009F): U+009B is CSI on terminals that take
//     8-bit controls, U+0085 is a line break to some readers;
//   - U+2028 and U+2029, which are line breaks by Unicode's definition;
//   - the bidirectional overrides and isolates (U+202A-U+202E,
//     U+2066-U+2069), which make a line read differently from what it holds;
//   - bytes that are not UTF-8: PostgreSQL refuses them where SQLite keeps
//     them, and a terminal may take a lone 0x9B for CSI.
//
// Everything else, accents and other scripts included, passes.
func CheckText(field, s string) error {
	return checkText(field, s, false)
}

// CheckLines is CheckText for a multi-line field (a template): tabs and
// line breaks (LF, CR) are allowed, every other control is not.
func CheckLines(field, s string) error {
	return checkText(field, s, true)
}

func checkText(field, s string, lines bool) error {
	if max := TextCap(field); len(s) > max {
		return &TextError{Field: field, Len: len(s), Max: max}
	}
	char := 0
	for i, r := range s {
		char++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return &TextError{Field: field, Rune: utf8.RuneError, Byte: s[i], Offset: i, Char: char}
			}
		}
		if lines && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unsafeRune(r) {
			return &TextError{Field: field, Rune: r, Offset: i, Char: char}
		}
	}
	return nil
}

// unsafeRune is a character CheckText refuses and Escape escapes.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7F, r >= 0x80 && r <= 0x9F:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// runeName names the characters operators meet most, for messages.
func runeName(r rune) string {
	switch r {
	case '\n':
		return "line feed"
	case '\r':
		return "carriage return"
	case '\t':
		return "tab"
	case 0:
		return "NUL"
	case 0x1B:
		return "escape"
	case 0x7F:
		return "delete"
	case 0x85:
		return "next line"
	case 0x9B:
		return "control sequence introducer"
	case 0x2028:
		return "line separator"
	case 0x2029:
		return "paragraph separator"
	}
	switch {
	case r < 0x20:
		return "control character"
	case r <= 0x9F:
		return "C1 control character"
	}
	return "bidirectional control"
}

// Escape returns s with every character CheckText refuses written as a Go
// escape (\n, \t, \x1b, \u2028) and every byte that is not UTF-8 as \xNN,
// so the result is one line of printable text that still shows what was
// there. Text that CheckText accepts comes back unchanged (and the same
// string, without a copy). A backslash is left as it is: the escapes are
// for a reader, not for parsing back.
func Escape(s string) string { return escape(s, false) }

// EscapeLines is Escape for multi-line text (a template): line feeds and
// tabs stay as they are, everything else Escape escapes is escaped.
func EscapeLines(s string) string { return escape(s, true) }

func escape(s string, lines bool) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case lines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i, r := range s {
		if unsafeRune(r) {
			return true
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return true
			}
		}
	}
	return false
}

// EscapeCut is Escape cut to field's cap (on a character boundary), for
// text the inventory records rather than refuses: a hook's output, a
// command line as an SSH client sent it.
func EscapeCut(field, s string) string {
	s = Escape(s)
	max := TextCap(field)
	if len(s) <= max {
		return s
	}
	const mark = " ...(cut)"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// textField is one value for checkTexts.
type textField struct {
	field, value string
}

// checkTexts runs CheckText over several fields, naming the record they
// belong to in the error (what, e.g. "cluster c1").
func checkTexts(what string, fs ...textField) error {
	for _, f := range fs {
		if err := CheckText(f.field, f.value); err != nil {
			if what == "" {
				return err
			}
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}
