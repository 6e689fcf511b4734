package main

import (
	"math"
	"strconv"
	"strings"
)

// unitClass is how a series' numbers are shown.
type unitClass int

const (
	plainUnit unitClass = iota
	bytesUnit
	secondsUnit
	percentUnit
)

// classify reads a series' unit, or, when it has none, the suffix of its
// name in the Prometheus style (_bytes, _seconds, optionally before
// _total or _sum).
func classify(unit, name string) unitClass {
	switch strings.ToLower(unit) {
	case "bytes", "byte", "b":
		return bytesUnit
	case "seconds", "second", "s", "cpu-seconds":
		return secondsUnit
	case "percent", "%":
		return percentUnit
	case "":
		base := strings.TrimSuffix(strings.TrimSuffix(name, "_total"), "_sum")
		switch {
		case strings.HasSuffix(base, "_bytes"):
			return bytesUnit
		case strings.HasSuffix(base, "_seconds"):
			return secondsUnit
		}
	}
	return plainUnit
}

// formatValue shows v for people, according to its unit class.
func formatValue(v float64, class unitClass) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	switch class {
	case bytesUnit:
		return formatBytes(v)
	case secondsUnit:
		return formatSeconds(v)
	case percentUnit:
		return formatNumber(v) + "%"
	}
	return formatNumber(v)
}

// nonFinite names NaN, +Inf and -Inf as the protocol does.
func nonFinite(v float64) (string, bool) {
	switch {
	case math.IsNaN(v):
		return "NaN", true
	case math.IsInf(v, 1):
		return "+Inf", true
	case math.IsInf(v, -1):
		return "-Inf", true
	}
	return "", false
}

// formatRate shows a per-second rate.
func formatRate(r float64, class unitClass) string {
	if class == percentUnit {
		class = plainUnit
	}
	return formatValue(r, class) + "/s"
}

// formatNumber shows a plain number: integers below a million exactly,
// larger magnitudes with an SI suffix and three significant digits, other
// numbers with three or four.
func formatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e21:
		return strconv.FormatFloat(v, 'g', 3, 64)
	case a >= 1e6:
		return scaled(v, 1000, []string{"", "k", "M", "G", "T", "P", "E", "Z"}, "")
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.001:
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
	return strconv.FormatFloat(v, 'e', 2, 64)
}

// formatBytes shows a number of bytes in B, KiB, MiB...
func formatBytes(v float64) string {
	if a := math.Abs(v); a < 1024 {
		if v == math.Trunc(v) {
			return strconv.FormatFloat(v, 'f', 0, 64) + " B"
		}
		return strconv.FormatFloat(v, 'f', 1, 64) + " B"
	}
	return scaled(v, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}, " ")
}

// formatSeconds shows a duration in seconds with the unit that suits it.
func formatSeconds(v float64) string {
	a := math.Abs(v)
	sign := ""
	if v < 0 {
		sign = "-"
	}
	switch {
	case a == 0:
		return "0 s"
	case a < 1e-6:
		return sign + sig3(a*1e9) + " ns"
	case a < 1e-3:
		return sign + sig3(a*1e6) + " µs"
	case a < 1:
		return sign + sig3(a*1e3) + " ms"
	case a < 60:
		return sign + sig3(a) + " s"
	case a < 3600:
		return sign + strconv.Itoa(int(a/60)) + "m " + strconv.Itoa(int(math.Mod(a, 60))) + "s"
	case a < 86400:
		return sign + strconv.Itoa(int(a/3600)) + "h " + strconv.Itoa(int(math.Mod(a, 3600)/60)) + "m"
	case a < 1e9:
		return sign + strconv.Itoa(int(a/86400)) + "d " + strconv.Itoa(int(math.Mod(a, 86400)/3600)) + "h"
	}
	return sign + strconv.FormatFloat(a, 'g', 3, 64) + " s"
}

// scaled divides v by step until it is below step and appends the unit
// reached, with three significant digits.
func scaled(v, step float64, units []string, sep string) string {
	a := math.Abs(v)
	i := 0
	for a >= step && i < len(units)-1 {
		a /= step
		i++
	}
	s := sig3(a)
	if s == sig3(step) && i < len(units)-1 { // 1023.99 rounds to "1024"
		a, i = a/step, i+1
		s = sig3(a)
	}
	if v < 0 {
		s = "-" + s
	}
	return s + sep + units[i]
}

// sig3 shows a non-negative number with three significant digits.
func sig3(a float64) string {
	switch {
	case a < 9.995:
		return strconv.FormatFloat(a, 'f', 2, 64)
	case a < 99.95:
		return strconv.FormatFloat(a, 'f', 1, 64)
	}
	return strconv.FormatFloat(a, 'f', 0, 64)
}

// sparkBlocks are the eight heights of a sparkline.
var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width points between their minimum (▁) and
// maximum (█); a flat series is drawn at the bottom, a NaN or infinite
// point as a space.
func sparkline(points []float64, width int) string {
	if width <= 0 || len(points) == 0 {
		return ""
	}
	points = points[max(0, len(points)-width):]
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range points {
		if !math.IsNaN(p) && !math.IsInf(p, 0) {
			lo, hi = min(lo, p), max(hi, p)
		}
	}
	var b strings.Builder
	for _, p := range points {
		switch {
		case math.IsNaN(p) || math.IsInf(p, 0):
			b.WriteByte(' ')
		case hi == lo:
			b.WriteRune(sparkBlocks[0])
		default:
			i := int(math.Round((p - lo) / (hi - lo) * float64(len(sparkBlocks)-1)))
			b.WriteRune(sparkBlocks[min(max(i, 0), len(sparkBlocks)-1)])
		}
	}
	return b.String()
}
