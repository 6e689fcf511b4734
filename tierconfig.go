package pulse

import (
	"fmt"
	"strconv"
	"time"
)

// Tier is one history tier a Hub keeps beside its per-tick history: one
// bucket per Step for the last Span of every series (Options.Tiers). A
// bucket holds what a chart draws: a gauge's last value, min and max; a
// counter's last value, its rate computed when the bucket is read.
type Tier struct {
	// Name identifies the tier in range requests ({"type":"range","tier":
	// Name}, GET ?range=Name), in Hub.History and in hello: 1 to 16
	// letters, digits, '.', '_' or '-', unique in the Hub, not "tick"
	// (TierTick, the per-tick history).
	Name string

	// Step is the width of a bucket: at least the Hub's Interval, a whole
	// number of milliseconds.
	Step time.Duration

	// Span is how far back the tier reaches: a multiple of Step, at most
	// MaxTierBuckets steps.
	Span time.Duration
}

// Buckets is the number of buckets the tier keeps per series: Span / Step.
func (t Tier) Buckets() int {
	if t.Step <= 0 {
		return 0
	}
	return int(t.Span / t.Step)
}

const (
	// MaxTiers is the most tiers Options.Tiers may list.
	MaxTiers = 8
	// MaxTierBuckets is the most buckets one tier may keep per series
	// (a week of 1 min buckets is 10,080).
	MaxTierBuckets = 20_000
	maxTierName    = 16
)

// DefaultTiers returns the tiers a Hub keeps when Options.Tiers is nil:
// 10 s buckets for 1 hour (Tier1h, 360 buckets) and 1 min buckets for 24
// hours (Tier24h, 1440 buckets). Each call returns a new slice.
func DefaultTiers() []Tier {
	return []Tier{
		{Name: Tier1h, Step: 10 * time.Second, Span: time.Hour},
		{Name: Tier24h, Step: time.Minute, Span: 24 * time.Hour},
	}
}

// validateTiers checks ts against the Hub's interval; the error names the
// tier (Tiers[i]) and is wrapped by withDefaults.
func validateTiers(ts []Tier, interval time.Duration) error {
	if len(ts) > MaxTiers {
		return fmt.Errorf("Tiers: %d tiers, at most %d", len(ts), MaxTiers)
	}
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		if err := validTierName(t.Name); err != nil {
			return fmt.Errorf("Tiers[%d]: %w", i, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("Tiers[%d]: name %q is used twice", i, t.Name)
		}
		seen[t.Name] = true
		switch {
		case t.Step < interval:
			return fmt.Errorf("Tiers[%d] %q: Step %v is below the Interval %v", i, t.Name, t.Step, interval)
		case t.Step%time.Millisecond != 0:
			return fmt.Errorf("Tiers[%d] %q: Step %v is not a whole number of milliseconds", i, t.Name, t.Step)
		case t.Span <= 0 || t.Span%t.Step != 0:
			return fmt.Errorf("Tiers[%d] %q: Span %v is not a positive multiple of Step %v", i, t.Name, t.Span, t.Step)
		case t.Buckets() > MaxTierBuckets:
			return fmt.Errorf("Tiers[%d] %q: %d buckets (Span / Step), at most %d", i, t.Name, t.Buckets(), MaxTierBuckets)
		}
	}
	return nil
}

func validTierName(name string) error {
	if name == TierTick {
		return fmt.Errorf("name %q is the per-tick history's", name)
	}
	if name == "" || len(name) > maxTierName {
		return fmt.Errorf("name %q: 1 to %d characters", name, maxTierName)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("name %q: only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// appendTiersJSON encodes the tiers for hello:
//
//	[{"name":"1h","step_ms":10000,"span_ms":3600000},...]
func appendTiersJSON(b []byte, ts []*tier) []byte {
	b = append(b, '[')
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, t.name)
		b = append(b, `,"step_ms":`...)
		b = strconv.AppendInt(b, t.step, 10)
		b = append(b, `,"span_ms":`...)
		b = strconv.AppendInt(b, t.step*int64(t.n), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}
