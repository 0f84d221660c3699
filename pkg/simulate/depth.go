package simulate

import (
	"bytes"
	"strings"
)

// tooDeep reports whether a YAML (or JSON) document nests mappings and sequences deeper than
// max levels, and if so the field path where it does. It reads the text without parsing it,
// in one pass, so that a hostile document is refused before a parser spends time and memory
// on it. Block structure is followed by indentation, flow collections by their brackets
// (outside quoted strings); block scalars (| and >) are skipped.
func tooDeep(data []byte, limit int) (string, bool) {
	var stack []nestLevel
	flow := 0          // open flow brackets, carried across lines
	scalarColumn := -1 // inside a block scalar: lines indented deeper than this
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		indent := len(line) - len(bytes.TrimLeft(line, " "))
		content := line[indent:]
		if len(content) == 0 || content[0] == '#' {
			continue
		}
		if scalarColumn >= 0 {
			if indent > scalarColumn {
				continue
			}
			scalarColumn = -1
		}
		column := indent
		if flow == 0 {
			// Sequence items nest one level each ("- - x" nests two); a key's parent is the
			// nearest entry to its left, and an item may sit at its parent key's column.
			for len(content) >= 2 && content[0] == '-' && content[1] == ' ' || len(content) == 1 && content[0] == '-' {
				for n := len(stack); n > 0 && (stack[n-1].column > column || stack[n-1].column == column && stack[n-1].key == "[]"); n = len(stack) {
					stack = stack[:n-1]
				}
				stack = append(stack, nestLevel{column: column, key: "[]"})
				if len(content) == 1 {
					content = nil
					break
				}
				rest := content[2:]
				trimmed := bytes.TrimLeft(rest, " ")
				column += 2 + len(rest) - len(trimmed)
				content = trimmed
			}
			if key, value, ok := mappingKey(content); ok {
				for n := len(stack); n > 0 && stack[n-1].column >= column; n = len(stack) {
					stack = stack[:n-1]
				}
				stack = append(stack, nestLevel{column: column, key: key})
				if v := strings.TrimSpace(value); v != "" && (v[0] == '|' || v[0] == '>') {
					scalarColumn = column
				}
			}
		}
		if len(stack)+flow > limit {
			return stackPath(stack, flow > 0), true
		}
		for i, quote := 0, byte(0); i < len(content); i++ {
			c := content[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '#' && (i == 0 || content[i-1] == ' '):
				i = len(content)
			case c == '[' || c == '{':
				if flow++; len(stack)+flow > limit {
					return stackPath(stack, true), true
				}
			case c == ']' || c == '}':
				flow = max(flow-1, 0)
			}
		}
	}
	return "", false
}

// nestLevel is one open block mapping key or sequence item ("[]") and the column it
// starts at.
type nestLevel struct {
	column int
	key    string
}

// stackPath renders the open levels as a field path, "..." standing for flow collections.
func stackPath(stack []nestLevel, inFlow bool) string {
	path := make([]string, 0, len(stack)+1)
	for _, l := range stack {
		path = append(path, l.key)
	}
	if inFlow {
		path = append(path, "...")
	}
	return strings.ReplaceAll(strings.Join(path, "."), ".[]", "[]")
}

// mappingKey splits "key: value" (or "key:") at its first unquoted ": ".
func mappingKey(content []byte) (string, string, bool) {
	s := string(content)
	if s == "" || s[0] == '{' || s[0] == '[' || s[0] == '"' || s[0] == '\'' {
		return "", "", false
	}
	if i := strings.Index(s, ": "); i > 0 {
		return s[:i], s[i+2:], true
	}
	if strings.HasSuffix(s, ":") {
		return s[:len(s)-1], "", true
	}
	return "", "", false
}
