package main

import (
	"errors"
	"io"
	"unicode/utf8"
)

// key is one key press, as the watch model understands it: a special key,
// or a rune when code is keyRune.
type key struct {
	code keyCode
	r    rune // the character, for keyRune
}

type keyCode uint8

const (
	keyRune keyCode = iota
	keyUp
	keyDown
	keyLeft
	keyRight
	keyPgUp
	keyPgDn
	keyHome
	keyEnd
	keyEnter
	keyBackspace
	keyEsc
	keyCtrlC
)

func runeKey(r rune) key { return key{code: keyRune, r: r} }

// escapes are the sequences terminals send for the special keys: CSI
// (ESC [) and SS3 (ESC O) forms, which xterm, the Linux console, tmux and
// screen use, in normal and application cursor mode.
var escapes = map[string]keyCode{
	"[A": keyUp, "[B": keyDown, "[C": keyRight, "[D": keyLeft,
	"OA": keyUp, "OB": keyDown, "OC": keyRight, "OD": keyLeft,
	"[5~": keyPgUp, "[6~": keyPgDn,
	"[H": keyHome, "[F": keyEnd, "OH": keyHome, "OF": keyEnd,
	"[1~": keyHome, "[4~": keyEnd, "[7~": keyHome, "[8~": keyEnd,
}

// decodeKeys splits what one read from the terminal returned into keys. A
// read holds whole escape sequences (a terminal writes each at once), so
// an ESC that ends the buffer is the Esc key itself. Sequences it does not
// know (function keys, mouse reports) are skipped whole.
func decodeKeys(b []byte) []key {
	var keys []key
	for len(b) > 0 {
		c := b[0]
		switch {
		case c == 0x1b:
			k, n := decodeEscape(b)
			if k != nil {
				keys = append(keys, *k)
			}
			b = b[n:]
			continue
		case c == '\r' || c == '\n':
			keys = append(keys, key{code: keyEnter})
		case c == 0x7f || c == 0x08:
			keys = append(keys, key{code: keyBackspace})
		case c == 0x03:
			keys = append(keys, key{code: keyCtrlC})
		case c < 0x20:
			// Other control characters mean nothing here.
		default:
			r, n := utf8.DecodeRune(b)
			if r != utf8.RuneError {
				keys = append(keys, runeKey(r))
			}
			b = b[n:]
			continue
		}
		b = b[1:]
	}
	return keys
}

// decodeEscape reads the escape sequence b starts with and returns its key
// (nil for an unknown sequence) and its length.
func decodeEscape(b []byte) (*key, int) {
	if len(b) == 1 || b[1] == 0x1b {
		return &key{code: keyEsc}, 1
	}
	if b[1] != '[' && b[1] != 'O' {
		// Alt+key: ESC then the key; taken as the key alone.
		return nil, 1
	}
	// A CSI sequence ends at its final byte, 0x40 to 0x7e; SS3 is one byte.
	end := 2
	if b[1] == '[' {
		for end < len(b) && (b[end] < 0x40 || b[end] > 0x7e) {
			end++
		}
	}
	if end >= len(b) {
		return nil, len(b) // cut short: drop it
	}
	if code, ok := escapes[string(b[1:end+1])]; ok {
		return &key{code: code}, end + 1
	}
	return nil, end + 1
}

// readKeys reads r until it fails or done is closed and sends the keys on
// out. With polled, r is a terminal in cbreak mode with a read timeout:
// a read that returns nothing (io.EOF from an os.File) is that timeout,
// which only gives readKeys the chance to see done.
func readKeys(r io.Reader, polled bool, out chan<- key, done <-chan struct{}) error {
	buf := make([]byte, 256)
	for {
		n, err := r.Read(buf)
		for _, k := range decodeKeys(buf[:n]) {
			select {
			case out <- k:
			case <-done:
				return nil
			}
		}
		select {
		case <-done:
			return nil
		default:
		}
		if err != nil && !(polled && n == 0 && errors.Is(err, io.EOF)) {
			return err
		}
	}
}
