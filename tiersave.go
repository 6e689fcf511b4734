package pulse

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Saving the tiers (Options.HistoryFile). Shutdown writes, once the
// collector has stopped, the tiers' bucket times and every series' buckets
// with encoding/gob: a header, then one record per series, so the file is
// written and read one series at a time. NewHub reads it back before its
// first tick; a series adopts its saved buckets when the collector first
// creates it, so charts of the last hour or day go on across a restart.
//
// Why a saved bucket can be trusted: a bucket's values are read only when
// its slot's start is the bucket's (tier.read). While the Hub is down no
// slot is reused, so the saved buckets are as they were; a series that
// comes back after the Hub has ticked for a while has missed buckets,
// which adopt marks as no point (NaN) from the series' last bucket on.

// savedFormat names the file's layout; another is not read.
const savedFormat = "pulse-tiers/1"

// savedHeader is the file's first record.
type savedHeader struct {
	Format string
	Tiers  []savedTier
	Series int // records that follow
}

type savedTier struct {
	Name    string
	Step    int64
	Starts  []int64
	Ends    []int64
	Current int64
}

// savedSeries is one series' buckets in every tier, float64 bits.
type savedSeries struct {
	Key     string
	Counter bool
	Born    int64
	Rings   []savedRing
}

type savedRing struct {
	Cur          int64
	Last, Lo, Hi []uint64
}

// loadTiers reads a saved file into hs: the tiers' bucket times now, the series'
// buckets for adopt. Any error leaves hs empty. At most maxSeries series
// are kept.
func (hs *history) loadTiers(r io.Reader, maxSeries int) error {
	dec := gob.NewDecoder(bufio.NewReader(r))
	var h savedHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("header: %v", err)
	}
	if err := hs.matches(h); err != nil {
		return err
	}
	saved := make(map[string]*savedSeries, min(h.Series, maxSeries))
	for i := 0; i < h.Series; i++ {
		s := new(savedSeries)
		if err := dec.Decode(s); err != nil {
			return fmt.Errorf("series %d of %d: %v", i+1, h.Series, err)
		}
		if !hs.fits(s) {
			return fmt.Errorf("series %q: buckets do not match its tiers", s.Key)
		}
		if len(saved) < maxSeries {
			saved[s.Key] = s
		}
	}
	for i, t := range hs.tiers {
		st := h.Tiers[i]
		for j := range t.starts {
			t.starts[j].Store(st.Starts[j])
			t.ends[j].Store(st.Ends[j])
		}
		t.current = st.Current
	}
	hs.saved = saved
	return nil
}

// matches checks that the file's tiers are hs's, in the same order.
func (hs *history) matches(h savedHeader) error {
	if h.Format != savedFormat {
		return fmt.Errorf("format %.32q, want %q", h.Format, savedFormat)
	}
	if len(h.Tiers) != len(hs.tiers) {
		return fmt.Errorf("it has %d tiers, the Hub %d", len(h.Tiers), len(hs.tiers))
	}
	for i, t := range hs.tiers {
		st := h.Tiers[i]
		if st.Name != t.name || st.Step != t.step || len(st.Starts) != t.n || len(st.Ends) != t.n {
			return fmt.Errorf("tier %d is %.16q (%d ms × %d), the Hub's %q (%d ms × %d)", i, st.Name, st.Step, len(st.Starts), t.name, t.step, t.n)
		}
	}
	return nil
}

// fits reports whether s has one ring of the right size per tier.
func (hs *history) fits(s *savedSeries) bool {
	if len(s.Rings) != len(hs.tiers) {
		return false
	}
	for i, t := range hs.tiers {
		r := s.Rings[i]
		want := t.n
		if s.Counter {
			want = 0
		}
		if len(r.Last) != t.n || len(r.Lo) != want || len(r.Hi) != want {
			return false
		}
	}
	return true
}

// adopt gives sh the saved buckets of key, if the file had them for a
// series of the same kind, and marks the buckets it missed since as no
// point. Collector goroutine only (from newSeries).
func (hs *history) adopt(key string, sh *seriesHist, counter bool) {
	s := hs.saved[key]
	if s == nil {
		return
	}
	delete(hs.saved, key)
	if s.Counter != counter {
		return
	}
	sh.born = s.Born
	for i, t := range hs.tiers {
		sr, r := s.Rings[i], &sh.tiers[i]
		restore(r.last, sr.Last)
		restore(r.lo, sr.Lo)
		restore(r.hi, sr.Hi)
		r.cur = sr.Cur
		for b := max(sr.Cur+1, t.current-int64(t.n)+1); b <= t.current; b++ {
			slot := int(b % int64(t.n))
			for _, ring := range [][]atomic.Uint64{r.last, r.lo, r.hi} {
				if ring != nil {
					ring[slot].Store(nanBits)
				}
			}
		}
		r.resume(t)
	}
}

func restore(dst []atomic.Uint64, src []uint64) {
	for i := range dst {
		dst[i].Store(src[i])
	}
}

// saveTiers writes the tiers of frame f's series, and the saved series no
// tick has adopted whose buckets are still in some tier, to w. The
// collector must have stopped.
func (hs *history) saveTiers(w io.Writer, f *frame) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := gob.NewEncoder(bw)
	h := savedHeader{Format: savedFormat, Tiers: make([]savedTier, len(hs.tiers))}
	for i, t := range hs.tiers {
		h.Tiers[i] = savedTier{Name: t.name, Step: t.step, Starts: loadInts(t.starts), Ends: loadInts(t.ends), Current: t.current}
	}
	var left []*savedSeries
	for _, s := range hs.saved {
		if hs.fresh(s) {
			left = append(left, s)
		}
	}
	for i := range f.points {
		if f.points[i].hist != nil {
			h.Series++
		}
	}
	h.Series += len(left)
	if err := enc.Encode(&h); err != nil {
		return err
	}
	for i := range f.points {
		p := &f.points[i]
		if p.hist == nil {
			continue
		}
		if err := enc.Encode(hs.savedOf(p)); err != nil {
			return err
		}
	}
	for _, s := range left {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// fresh reports whether some tier still holds a bucket of s.
func (hs *history) fresh(s *savedSeries) bool {
	for i, t := range hs.tiers {
		if s.Rings[i].Cur > t.current-int64(t.n) {
			return true
		}
	}
	return false
}

// savedOf is p's buckets as saved.
func (hs *history) savedOf(p *point) *savedSeries {
	s := &savedSeries{Key: p.meta.key, Counter: p.meta.kind == KindCounter, Born: p.hist.born, Rings: make([]savedRing, len(hs.tiers))}
	for i := range hs.tiers {
		r := &p.hist.tiers[i]
		s.Rings[i] = savedRing{Cur: r.cur, Last: loadBits(r.last), Lo: loadBits(r.lo), Hi: loadBits(r.hi)}
	}
	return s
}

func loadInts(a []atomic.Int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i].Load()
	}
	return out
}

func loadBits(a []atomic.Uint64) []uint64 {
	if a == nil {
		return nil
	}
	out := make([]uint64, len(a))
	for i := range a {
		out[i] = a[i].Load()
	}
	return out
}

// writeFileAtomic writes path through a temporary file in its directory,
// renamed over it once complete: a crash mid-write leaves the old file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: no such file
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadHistoryFile loads Options.HistoryFile, if set; a missing, unreadable,
// corrupt or mismatched file is logged once and the Hub starts empty.
func (h *Hub) loadHistoryFile() {
	path := h.opts.HistoryFile
	if path == "" || h.hist.n == 0 {
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		h.logInfo("pulse: no saved history yet: starting empty", "file", path)
		return
	}
	if err == nil {
		err = h.hist.loadTiers(f, h.opts.MaxSeries)
		f.Close()
	}
	if err != nil {
		h.hist.reset()
		h.logWarn("pulse: saved history not loaded: starting empty", "file", path, "err", err)
		return
	}
	h.logInfo("pulse: saved history loaded", "file", path, "series", len(h.hist.saved))
}

// saveHistoryFile writes Options.HistoryFile, if set, once the collector
// has stopped; a failure is logged.
func (h *Hub) saveHistoryFile() {
	path := h.opts.HistoryFile
	if path == "" || h.hist.n == 0 {
		return
	}
	f := h.frame.Load()
	if err := writeFileAtomic(path, func(w io.Writer) error { return h.hist.saveTiers(w, f) }); err != nil {
		h.logWarn("pulse: history not saved", "file", path, "err", err)
	}
}
