package simulate

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// fastYAMLToJSON converts the plain YAML most manifests are written in (block mappings and
// sequences, one scalar a line) to the JSON that yaml.YAMLToJSONStrict makes of it, byte for
// byte, without the general parser's event stream and interface tree: reading 20,000 pod
// documents spent two thirds of its time in that parser and takes 45 % less this way. It
// declines (ok false) anything outside that subset, and the caller then converts with the
// general parser, errors and all: flow collections other than a one-line sequence of
// scalars, block scalars, anchors, aliases, tags, multi-line or quoted scalars with escapes,
// comments after a value, anything but printable ASCII (tabs, CR line ends, UTF-8),
// duplicate keys, keys that are not plain words, and every scalar whose YAML 1.1 type is
// not certain at a glance (yes, on, 0777, 1e3, 1_000, .5, +1, timestamps ...). A declined
// document costs one pass over its lines.
func fastYAMLToJSON(data []byte) ([]byte, bool) {
	// Printable ASCII and line feeds only, comments included: tabs, CRs, other control
	// characters and UTF-8 (valid or not) are the general parser's.
	for _, c := range data {
		if (c < ' ' || c > '~') && c != '\n' {
			return nil, false
		}
	}
	p := fastParser{}
	for raw := range bytes.Lines(data) {
		line := bytes.TrimSuffix(raw, []byte("\n"))
		content := bytes.TrimLeft(line, " ")
		if len(content) == 0 || content[0] == '#' {
			continue
		}
		if content[0] == '%' || bytes.HasPrefix(content, []byte("---")) || bytes.HasPrefix(content, []byte("...")) {
			return nil, false
		}
		p.lines = append(p.lines, fastLine{indent: len(line) - len(content), text: string(bytes.TrimRight(content, " "))})
	}
	if len(p.lines) == 0 || p.lines[0].indent != 0 || isSeqItem(p.lines[0].text) {
		return nil, false
	}
	root, ok := p.mapping(0)
	if !ok || p.i != len(p.lines) {
		return nil, false
	}
	out := make([]byte, 0, len(data))
	return root.appendJSON(out), true
}

type fastLine struct {
	indent int
	text   string
}

type fastParser struct {
	lines []fastLine
	i     int
}

// fastValue is a converted node: a mapping (keys and vals), a sequence (items), or a
// scalar already in JSON (raw).
type fastValue struct {
	kind  byte // 'm', 's' or 'r'
	keys  []string
	vals  []*fastValue
	items []*fastValue
	raw   string
}

var jsonNull = &fastValue{kind: 'r', raw: "null"}

// maxFastKeys is the most keys one mapping may have on the fast path (a pod's metadata or
// container has a dozen or two).
const maxFastKeys = 64

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// mapping reads the block mapping whose keys start at column indent, from line p.i.
func (p *fastParser) mapping(indent int) (*fastValue, bool) {
	m := &fastValue{kind: 'm'}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent && !isSeqItem(p.lines[p.i].text) {
		text := p.lines[p.i].text
		key, rest, ok := splitKey(text)
		// Duplicates are found by a scan, so a mapping's keys are bounded: a document of a
		// million keys (a hostile or generated one) goes to the general parser rather than
		// costing a million squared comparisons here.
		if !ok || len(m.keys) == maxFastKeys || slices.Contains(m.keys, key) {
			return nil, false
		}
		p.i++
		var v *fastValue
		if rest == "" {
			v, ok = p.nested(indent, true)
		} else {
			v, ok = scalar(rest)
			ok = ok && p.endsHere(indent)
		}
		if !ok {
			return nil, false
		}
		m.keys, m.vals = append(m.keys, key), append(m.vals, v)
	}
	if p.i < len(p.lines) && p.lines[p.i].indent > indent {
		return nil, false
	}
	return m, true
}

// sequence reads the block sequence whose dashes are at column indent.
func (p *fastParser) sequence(indent int) (*fastValue, bool) {
	s := &fastValue{kind: 's'}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent && isSeqItem(p.lines[p.i].text) {
		text := p.lines[p.i].text
		if text == "-" {
			p.i++
			v, ok := p.nested(indent, false)
			if !ok {
				return nil, false
			}
			s.items = append(s.items, v)
			continue
		}
		item := strings.TrimLeft(text[1:], " ")
		column := indent + len(text) - len(item)
		if _, _, isKey := splitKey(item); isKey {
			// "- key: value": a mapping whose keys start at the item's column. The line is
			// read again as that mapping's first line.
			p.lines[p.i] = fastLine{indent: column, text: item}
			v, ok := p.mapping(column)
			if !ok {
				return nil, false
			}
			s.items = append(s.items, v)
			continue
		}
		if isSeqItem(item) || strings.Contains(item, ": ") || strings.HasSuffix(item, ":") {
			return nil, false // "- - x", or a key this subset does not read
		}
		p.i++
		v, ok := scalar(item)
		if !ok || !p.endsHere(indent) {
			return nil, false
		}
		s.items = append(s.items, v)
	}
	if p.i < len(p.lines) && p.lines[p.i].indent > indent {
		return nil, false
	}
	return s, true
}

// nested reads the node under a key or dash with nothing after it, owned by the line at
// column indent: a more indented block, a sequence at the key's own column (YAML allows
// "key:" followed by "- item" at the same indentation), or null.
func (p *fastParser) nested(indent int, underKey bool) (*fastValue, bool) {
	if p.i >= len(p.lines) {
		return jsonNull, true
	}
	next := p.lines[p.i]
	switch {
	case next.indent > indent && isSeqItem(next.text):
		return p.sequence(next.indent)
	case next.indent > indent:
		return p.mapping(next.indent)
	case next.indent == indent && underKey && isSeqItem(next.text):
		return p.sequence(indent)
	}
	return jsonNull, true
}

// endsHere reports whether the scalar just read is not continued on the next line (a
// multi-line plain scalar), which this subset does not read.
func (p *fastParser) endsHere(indent int) bool {
	return p.i >= len(p.lines) || p.lines[p.i].indent <= indent
}

// splitKey splits "key: value" or "key:" with a plain-word key.
func splitKey(text string) (key, rest string, ok bool) {
	key, rest, found := strings.Cut(text, ": ")
	if !found {
		if !strings.HasSuffix(text, ":") {
			return "", "", false
		}
		key = text[:len(text)-1]
	}
	if !plainKey(key) {
		return "", "", false
	}
	return key, strings.TrimLeft(rest, " "), true
}

// plainKey: a key that YAML reads as the string it spells: a letter, then letters, digits
// and . / - _, at most 512 of them, and not a word YAML 1.1 reads as a boolean or null (y, on, no, null ...).
func plainKey(key string) bool {
	// YAML caps an implicit key at 1,024 characters; label keys need at most 317.
	if key == "" || len(key) > 512 || !isLetter(key[0]) || specialWord(key) {
		return false
	}
	for i := 1; i < len(key); i++ {
		c := key[i]
		if !isLetter(c) && !isDigit(c) && c != '.' && c != '/' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// specialWord reports a plain scalar starting with a letter that YAML 1.1 (go.yaml.in/yaml/v2's
// resolve table) does not read as a string.
func specialWord(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
		"null", "Null", "NULL":
		return true
	}
	return false
}

// scalar converts a value this subset reads with certainty, or declines.
func scalar(s string) (*fastValue, bool) {
	switch s {
	case "true", "false", "null":
		return &fastValue{kind: 'r', raw: s}, true
	case "~":
		return jsonNull, true
	case "[]":
		return &fastValue{kind: 's'}, true
	case "{}":
		return &fastValue{kind: 'm'}, true
	}
	c := s[0]
	switch {
	case c == '[' && s[len(s)-1] == ']':
		// A flow sequence of scalars on one line (values: ["a", "b"]); nothing nested.
		seq := &fastValue{kind: 's'}
		for item := range strings.SplitSeq(s[1:len(s)-1], ",") {
			item = strings.Trim(item, " ")
			if item == "" || strings.ContainsAny(item, "[]{}") {
				return nil, false
			}
			v, ok := scalar(item)
			if !ok {
				return nil, false
			}
			seq.items = append(seq.items, v)
		}
		return seq, true
	case c == '"' || c == '\'':
		// Quoted, without escapes or the quote inside: the text between the quotes.
		if len(s) < 2 || s[len(s)-1] != c || strings.ContainsAny(s[1:len(s)-1], `"'\`) || !printable(s[1:len(s)-1]) {
			return nil, false
		}
		return &fastValue{kind: 'r', raw: jsonString(s[1 : len(s)-1])}, true
	case isLetter(c) || c == '/':
		if specialWord(s) || !printable(s) || strings.ContainsAny(s, "#,[]{}\"'\\`") ||
			strings.Contains(s, ": ") || strings.HasSuffix(s, ":") {
			return nil, false
		}
		return &fastValue{kind: 'r', raw: jsonString(s)}, true
	case isDigit(c):
		if integer(s) {
			return &fastValue{kind: 'r', raw: s}, true
		}
		if quantity(s) {
			return &fastValue{kind: 'r', raw: jsonString(s)}, true
		}
	}
	return nil, false
}

// integer: a decimal integer without a leading zero (0777 is octal to YAML 1.1) that fits
// an int64 with room to spare.
func integer(s string) bool {
	if len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// quantity: a digit, then digits, letters and dots, ending with a letter, and not a
// prefixed integer (0x1F, 0o17, 0b1): Kubernetes quantities and durations (100m, 1.5Gi,
// 30s, 1h30m). YAML 1.1 reads such a word as a string: its numbers end with a digit (or a
// dot), its timestamps hold dashes, and ParseInt refuses a trailing letter.
func quantity(s string) bool {
	if len(s) > 1 && strings.IndexByte("xXoObB", s[1]) >= 0 || !isLetter(s[len(s)-1]) {
		return false
	}
	for i := range len(s) {
		if !isDigit(s[i]) && !isLetter(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// printable: printable ASCII only (other characters are left to the general parser).
func printable(s string) bool {
	for i := range len(s) {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// jsonString quotes s as encoding/json does (it escapes <, > and & too).
func jsonString(s string) string {
	if !strings.ContainsAny(s, `"\<>&`) {
		return `"` + s + `"`
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// appendJSON writes the value as json.Marshal writes what yaml.YAMLToJSON decodes: mapping
// keys sorted.
func (v *fastValue) appendJSON(out []byte) []byte {
	switch v.kind {
	case 'r':
		return append(out, v.raw...)
	case 's':
		out = append(out, '[')
		for i, item := range v.items {
			if i > 0 {
				out = append(out, ',')
			}
			out = item.appendJSON(out)
		}
		return append(out, ']')
	}
	order := make([]int, len(v.keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(v.keys[a], v.keys[b]) })
	out = append(out, '{')
	for n, i := range order {
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, jsonString(v.keys[i])...)
		out = append(out, ':')
		out = v.vals[i].appendJSON(out)
	}
	return append(out, '}')
}
