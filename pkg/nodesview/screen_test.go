package nodesview

import (
	"strconv"
	"strings"
)

// screen is a minimal terminal: a grid of cells, a cursor, and the few sequences Run writes
// (cursor home/position, clear screen, clear to end of line, clear below, cursor
// visibility), so a test can see what a user would see.
type screen struct {
	rows, cols int
	cells      [][]rune
	r, c       int
	cursorOn   bool
}

func newScreen(rows, cols int) *screen {
	s := &screen{rows: rows, cols: cols, cursorOn: true}
	s.cells = make([][]rune, rows)
	for i := range s.cells {
		s.cells[i] = blank(cols)
	}
	return s
}

func blank(n int) []rune { return []rune(strings.Repeat(" ", n)) }

func (s *screen) write(b []byte) {
	in := []rune(string(b))
	for i := 0; i < len(in); i++ {
		switch ch := in[i]; {
		case ch == '\x1b' && i+1 < len(in) && in[i+1] == '[':
			j := i + 2
			for j < len(in) && (in[j] < 0x40 || in[j] > 0x7e) {
				j++
			}
			if j == len(in) {
				return
			}
			s.csi(string(in[i+2:j]), in[j])
			i = j
		case ch == '\r':
			s.c = 0
		case ch == '\n':
			s.r++
			if s.r == s.rows {
				s.cells = append(s.cells[1:], blank(s.cols))
				s.r--
			}
		default:
			if s.c < s.cols {
				s.cells[s.r][s.c] = ch
				s.c++
			}
		}
	}
}

func (s *screen) csi(params string, final rune) {
	switch final {
	case 'H':
		s.r, s.c = 0, 0
		if r, c, ok := strings.Cut(params, ";"); ok {
			s.r, _ = strconv.Atoi(r)
			s.c, _ = strconv.Atoi(c)
			s.r, s.c = max(s.r-1, 0), max(s.c-1, 0)
		}
	case 'K':
		for c := s.c; c < s.cols; c++ {
			s.cells[s.r][c] = ' '
		}
	case 'J':
		if params == "2" {
			for r := range s.cells {
				s.cells[r] = blank(s.cols)
			}
			return
		}
		s.csi("", 'K')
		for r := s.r + 1; r < s.rows; r++ {
			s.cells[r] = blank(s.cols)
		}
	case 'h', 'l':
		if params == "?25" {
			s.cursorOn = final == 'h'
		}
	}
}

// text is the screen, trailing spaces cut, trailing empty lines dropped.
func (s *screen) text() string {
	lines := make([]string, s.rows)
	for i, l := range s.cells {
		lines[i] = strings.TrimRight(string(l), " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
}
