package nodes

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// maxExpand bounds what one range may expand to, so "n[0-999999999]" typed
// by mistake (or sent over SSH) is an error rather than an exhausted heap.
const maxExpand = 100000

// maxExpandBytes bounds the names' total length too: a long prefix or
// zero padding ("n[0000…0000-99999]") multiplies every one of the
// maxExpand names, so a few kilobytes of range would otherwise spell
// hundreds of megabytes.
const maxExpandBytes = 8 << 20

// Term is one comma-separated part of a range expression.
type Term struct {
	Exclude bool
	Text    string   // as written, without the leading '-'
	Names   []string // hostlist expansion when Text has brackets, else [Text]
	Pattern bool     // Text had brackets: every name must be a node
}

// ParseRange splits a node range in the xCAT/Slurm habit into terms:
// "umu[18-23]", "umu[01-04,09]", "n1,n2", a cluster name, "-name" to
// exclude, and "all". It only parses; Resolve checks names against the
// inventory.
func ParseRange(expr string) ([]Term, error) {
	parts, err := splitTop(expr)
	if err != nil {
		return nil, err
	}
	var terms []Term
	total, size := 0, 0
	for _, p := range parts {
		t := Term{Text: p}
		if strings.HasPrefix(p, "-") {
			t.Exclude = true
			t.Text = p[1:]
		}
		if t.Text == "" {
			return nil, fmt.Errorf("range %q: empty term", expr)
		}
		if strings.ContainsAny(t.Text, "[]") {
			t.Pattern = true
			// Every name is shorter than the text that spells it (the
			// number replaces at least "[" and "]"), so this many names
			// stay within maxExpandBytes.
			limit := min(maxExpand-total, (maxExpandBytes-size)/len(t.Text))
			t.Names, err = expandHostlist(t.Text, limit)
			if err != nil {
				return nil, fmt.Errorf("range %q: %w", expr, err)
			}
		} else {
			t.Names = []string{t.Text}
		}
		total += len(t.Names)
		for _, n := range t.Names {
			size += len(n)
		}
		terms = append(terms, t)
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("empty node range")
	}
	return terms, nil
}

// splitTop splits on commas outside brackets.
func splitTop(expr string) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	for i, r := range expr {
		switch r {
		case '[':
			depth++
			if depth > 1 {
				return nil, fmt.Errorf("range %q: nested brackets", expr)
			}
		case ']':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("range %q: ']' without '['", expr)
			}
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(expr[start:i]))
				start = i + 1
			}
		case ' ', '\t', '\n':
			if depth > 0 {
				return nil, fmt.Errorf("range %q: space inside brackets", expr)
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("range %q: '[' without ']'", expr)
	}
	parts = append(parts, strings.TrimSpace(expr[start:]))
	var out []string
	for _, p := range parts {
		// Whitespace-separated lists ("umu18 umu19") arrive from scripts that
		// joined arguments; treat them like commas.
		out = append(out, strings.Fields(p)...)
		if strings.TrimSpace(p) == "" && len(parts) > 1 {
			return nil, fmt.Errorf("range %q: empty term", expr)
		}
	}
	return out, nil
}

// expandHostlist expands every bracket group: "r[1-2]n[01-02]" gives r1n01,
// r1n02, r2n01, r2n02. Zero padding follows the lower bound's width.
func expandHostlist(s string, limit int) ([]string, error) {
	open := strings.IndexByte(s, '[')
	if open < 0 {
		if strings.IndexByte(s, ']') >= 0 {
			return nil, fmt.Errorf("%q: ']' without '['", s)
		}
		return []string{s}, nil
	}
	end := strings.IndexByte(s[open:], ']')
	if end < 0 {
		return nil, fmt.Errorf("%q: '[' without ']'", s)
	}
	end += open
	prefix, body, rest := s[:open], s[open+1:end], s[end+1:]
	if body == "" {
		return nil, fmt.Errorf("%q: empty brackets", s)
	}
	tails, err := expandHostlist(rest, limit)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, item := range strings.Split(body, ",") {
		lo, hi, found := strings.Cut(item, "-")
		if !found {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || lo == "" || hi == "" || a < 0 {
			return nil, fmt.Errorf("%q: %q is not a number or a range of numbers", s, item)
		}
		if b < a {
			return nil, fmt.Errorf("%q: range %q runs backwards", s, item)
		}
		// (b-a+1)*len(tails) > room, written so that it cannot overflow:
		// "n[0-9223372036854775807]" wrapped (b-a+1) to a negative count
		// that passed, then looped allocating forever.
		if room := limit - len(out); room <= 0 || b-a >= room/len(tails) {
			return nil, fmt.Errorf("%q expands to too many names (at most %d, or %d MiB of names, in one range)", s, maxExpand, maxExpandBytes>>20)
		}
		width := len(lo)
		for i := a; i <= b; i++ {
			num := strconv.Itoa(i)
			if len(num) < width {
				// One copy: prepending a zero at a time was quadratic
				// in the width of "n[000…0-9]".
				num = strings.Repeat("0", width-len(num)) + num
			}
			for _, t := range tails {
				out = append(out, prefix+num+t)
			}
		}
	}
	return out, nil
}

// readAllAbove is how many names a range may spell before its expansion
// reads every node instead of looking each name up: one scan of the table
// beats tens of thousands of index probes (and, on PostgreSQL, a round trip
// per batch).
const readAllAbove = 8 * batchSize

// expand turns a range into nodes against the inventory, in natural order:
// a term is a node, a cluster (its nodes), or "all". Any name that is
// neither is an error, so a typo never silently shrinks what an operation
// touches. It asks the inventory for the nodes the range names only, by
// name or by cluster, so a range of ten nodes does not read ten thousand.
// Inside a write transaction the check and the change see the same
// inventory.
func expand(ctx context.Context, q queryer, expr string) ([]Node, error) {
	terms, err := ParseRange(expr)
	if err != nil {
		return nil, Invalid(err)
	}
	var names []string
	readAll := false
	for _, t := range terms {
		if isAll(t) {
			readAll = true
		}
		names = append(names, t.Names...)
	}
	var found []Node
	if readAll || len(names) > readAllAbove {
		found, err = allNodes(ctx, q)
	} else {
		found, err = nodesNamed(ctx, q, names)
	}
	if err != nil {
		return nil, err
	}
	// Rows are found by name through an index into found: a map of
	// whole nodes would copy each one again.
	known := make(map[string]int, len(found))
	for i, n := range found {
		known[n.Name] = i
	}
	var clusters map[string]bool
	for _, t := range terms {
		if _, ok := known[t.Text]; !ok && !t.Pattern && !isAll(t) && clusters == nil {
			if clusters, err = clusterNames(ctx, q); err != nil {
				return nil, err
			}
		}
	}
	include, exclude := make(map[string]bool, len(found)), map[string]bool{}
	var unknown []string
	included := false
	for _, t := range terms {
		set := include
		if t.Exclude {
			set = exclude
		} else {
			included = true
		}
		_, isNode := known[t.Text]
		switch {
		case isAll(t):
			for _, n := range found {
				set[n.Name] = true
			}
		case !t.Pattern && !isNode && clusters[t.Text]:
			members, err := clusterNodes(ctx, q, t.Text, found, readAll)
			if err != nil {
				return nil, err
			}
			for _, n := range members {
				if _, ok := known[n.Name]; !ok {
					known[n.Name] = len(found)
					found = append(found, n)
				}
				set[n.Name] = true
			}
		default:
			for _, n := range t.Names {
				if _, ok := known[n]; !ok {
					unknown = append(unknown, n)
					continue
				}
				set[n] = true
			}
		}
	}
	if len(unknown) > 0 {
		return nil, Invalid(fmt.Errorf("range %q: unknown node %s", expr, Compress(unknown)))
	}
	if !included {
		return nil, Invalid(fmt.Errorf("range %q only excludes: start from something, e.g. all,%s", expr, expr))
	}
	out := make([]Node, 0, len(include))
	for n := range include {
		if !exclude[n] {
			out = append(out, found[known[n]])
		}
	}
	if len(out) == 0 {
		return nil, Invalid(fmt.Errorf("range %q names no nodes", expr))
	}
	SortNodes(out)
	return out, nil
}

// isAll says a term is the word "all" (every node), which no node or
// cluster name shadows.
func isAll(t Term) bool { return !t.Pattern && t.Text == "all" }

// clusterNodes returns a cluster's nodes: from all when it holds every node
// already, else from the inventory.
func clusterNodes(ctx context.Context, q queryer, cluster string, all []Node, complete bool) ([]Node, error) {
	if !complete {
		return nodesWhere(ctx, q, nil, "cluster = ?", cluster)
	}
	var out []Node
	for _, n := range all {
		if n.Cluster == cluster {
			out = append(out, n)
		}
	}
	return out, nil
}

// splitNum splits a trailing decimal number off a name: "umu018" gives
// ("umu", "018").
func splitNum(name string) (prefix, num string) {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	return name[:i], name[i:]
}

func naturalLess(a, b string) bool {
	pa, na := splitNum(a)
	pb, nb := splitNum(b)
	if pa != pb || na == "" || nb == "" {
		return a < b
	}
	ia, _ := strconv.Atoi(na)
	ib, _ := strconv.Atoi(nb)
	if ia != ib {
		return ia < ib
	}
	return len(na) < len(nb)
}

// SortNames sorts node names naturally: umu9 before umu10.
func SortNames(names []string) {
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
}

// SortNodes sorts nodes naturally by name.
func SortNodes(ns []Node) {
	sort.Slice(ns, func(i, j int) bool { return naturalLess(ns[i].Name, ns[j].Name) })
}

// Compress writes names back as a range: umu18,umu19,umu20 → umu[18-20].
// Numbers of different widths stay apart so expansion gives the same names.
func Compress(names []string) string {
	type key struct {
		prefix string
		width  int
	}
	groups := map[key][]int{}
	var plain []string
	var order []key
	uniq := map[string]bool{}
	for _, n := range names {
		if uniq[n] {
			continue
		}
		uniq[n] = true
		p, num := splitNum(n)
		// Numbers with leading zeros only compress with their own width;
		// unpadded numbers share width 0 so umu9 and umu10 join.
		if num == "" || len(num) > 9 {
			plain = append(plain, n)
			continue
		}
		w := 0
		if len(num) > 1 && num[0] == '0' {
			w = len(num)
		}
		k := key{p, w}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		v, _ := strconv.Atoi(num)
		groups[k] = append(groups[k], v)
	}
	// An unpadded number at least as long as a padded group's width spells
	// the same in that group (umu09,umu10 → umu[09-10]), so fold it in.
	for _, k := range order {
		if k.width == 0 {
			continue
		}
		plainKey := key{k.prefix, 0}
		var keep []int
		for _, v := range groups[plainKey] {
			if len(strconv.Itoa(v)) >= k.width {
				groups[k] = append(groups[k], v)
			} else {
				keep = append(keep, v)
			}
		}
		if _, ok := groups[plainKey]; ok {
			groups[plainKey] = keep
		}
	}
	var parts []string
	sort.Slice(order, func(i, j int) bool {
		if order[i].prefix != order[j].prefix {
			return order[i].prefix < order[j].prefix
		}
		return order[i].width < order[j].width
	})
	for _, k := range order {
		nums := groups[k]
		if len(nums) == 0 {
			continue
		}
		sort.Ints(nums)
		format := func(v int) string {
			s := strconv.Itoa(v)
			for len(s) < k.width {
				s = "0" + s
			}
			return s
		}
		if len(nums) == 1 {
			parts = append(parts, k.prefix+format(nums[0]))
			continue
		}
		var spans []string
		for i := 0; i < len(nums); {
			j := i
			for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
				j++
			}
			if i == j {
				spans = append(spans, format(nums[i]))
			} else {
				spans = append(spans, format(nums[i])+"-"+format(nums[j]))
			}
			i = j + 1
		}
		parts = append(parts, k.prefix+"["+strings.Join(spans, ",")+"]")
	}
	SortNames(plain)
	return strings.Join(append(parts, plain...), ",")
}
