package main

import "unicode"

// press applies one key to the model. It reports whether the screen
// changed (and so must be drawn again).
func (m *model) press(k key) bool {
	if k.code == keyCtrlC {
		m.quit = true
		return true
	}
	if m.editing {
		return m.editFilter(k)
	}
	switch k.code {
	case keyUp:
		return m.move(-1)
	case keyDown:
		return m.move(1)
	case keyPgUp:
		return m.move(-m.pageSize)
	case keyPgDn:
		return m.move(m.pageSize)
	case keyHome:
		return m.move(-len(m.lines))
	case keyEnd:
		return m.move(len(m.lines))
	case keyLeft:
		return m.fold(true)
	case keyRight:
		return m.fold(false)
	case keyEnter:
		return m.toggleFold()
	case keyEsc:
		if m.filter == "" {
			return false
		}
		m.filter = ""
		m.relist()
		return true
	case keyRune:
		return m.command(k.r)
	}
	return false
}

// command applies a key that stands for a letter or a sign.
func (m *model) command(r rune) bool {
	switch r {
	case 'q', 'Q':
		m.quit = true
	case 'k':
		return m.move(-1)
	case 'j':
		return m.move(1)
	case 'g':
		return m.move(-len(m.lines))
	case 'G':
		return m.move(len(m.lines))
	case 'h':
		return m.fold(true)
	case 'l':
		return m.fold(false)
	case ' ':
		return m.toggleFold()
	case '/':
		m.editing = true
	case 's':
		m.order = (m.order + 1) % sortOrders
		m.relist()
	case 'p':
		m.paused = !m.paused
		if !m.paused && m.pending != nil {
			m.data, m.pending = *m.pending, nil
			m.relist()
		}
	case 'c', 'e':
		m.foldAll(r == 'c')
	default:
		return false
	}
	return true
}

// editFilter applies a key typed after /: the filter changes as it is
// typed; Enter keeps it, Esc clears it.
func (m *model) editFilter(k key) bool {
	switch k.code {
	case keyEnter:
		m.editing = false
		return true
	case keyEsc:
		m.editing, m.filter = false, ""
	case keyBackspace:
		if m.filter == "" {
			return false
		}
		r := []rune(m.filter)
		m.filter = string(r[:len(r)-1])
	case keyRune:
		if !unicode.IsPrint(k.r) {
			return false
		}
		m.filter += string(k.r)
	case keyUp, keyDown, keyPgUp, keyPgDn:
		// Moving while typing leaves the filter as it is.
		m.editing = false
		m.press(k)
		return true
	default:
		return false
	}
	m.cursor, m.top = 0, 0
	m.relist()
	return true
}

// move moves the cursor by n lines.
func (m *model) move(n int) bool {
	old, oldTop := m.cursor, m.top
	m.cursor += n
	if n >= m.pageSize || -n >= m.pageSize {
		m.top += n // a page: the window moves with the cursor
	}
	m.scroll()
	return m.cursor != old || m.top != oldTop
}

// fold folds (or unfolds) the family of the selected line; folding from
// one of its series selects its header.
func (m *model) fold(fold bool) bool {
	if m.cursor >= len(m.lines) {
		return false
	}
	l := m.lines[m.cursor]
	if !l.header && !m.isMember(l) || m.folded[l.family] == fold {
		return false
	}
	m.setFolded(l.family, fold)
	m.cursor = m.headerOf(l.family)
	m.relist()
	return true
}

func (m *model) toggleFold() bool {
	if m.cursor >= len(m.lines) {
		return false
	}
	return m.fold(!m.folded[m.lines[m.cursor].family])
}

// foldAll folds or unfolds every family.
func (m *model) foldAll(fold bool) {
	for _, l := range m.lines {
		if l.header {
			m.setFolded(l.family, fold)
		}
	}
	if m.cursor < len(m.lines) {
		m.cursor = m.headerOf(m.lines[m.cursor].family)
	}
	m.relist()
}

func (m *model) setFolded(family string, fold bool) {
	if fold {
		m.folded[family] = true
	} else {
		delete(m.folded, family)
	}
}

// isMember reports whether l is a series under a family header.
func (m *model) isMember(l line) bool {
	return m.headerOf(l.family) >= 0 && !l.header
}

// headerOf returns the index of family's header line, -1 if it has none.
func (m *model) headerOf(family string) int {
	for i, l := range m.lines {
		if l.header && l.family == family {
			return i
		}
	}
	return -1
}
