package report

import (
	"fmt"
	"math"
	"strings"
)

// ScaleSVG draws the scale run against the number of clients: RSS per
// connection under load (linear) and p99 latency (log), one line per
// contender; a failed row has no point.
func ScaleSVG(r Run) string {
	const W, H = 960, 420
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold" text-anchor="middle">1 KiB broadcast at 1 Hz to N WebSocket clients (%s, %s)</text>`+"\n", W/2, esc(r.Machine.CPUModel), r.Started.Format("2006-01-02"))
	ns := r.scaleNs()
	rss := func(n int, c string) (float64, bool) {
		x, ok := r.find(c, Broadcast, n, 1)
		return x.LoadKiBPerConn, ok && measured(x) && x.LoadKiBPerConn > 0
	}
	p99 := func(n int, c string) (float64, bool) {
		x, ok := r.find(c, Broadcast, n, 1)
		return x.P99ms, ok && measured(x) && x.P99ms > 0
	}
	panel(&b, panelSpec{left: 80, title: "RSS per connection under load (KiB, lower is better)", ns: ns, value: rss})
	panel(&b, panelSpec{left: 560, title: "p99 tick-to-receive latency (ms, log)", ns: ns, value: p99, log: true})
	lx := 160
	for _, c := range order {
		wd := 2
		if c == "pulse" {
			wd = 4
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%d"/>`+"\n", lx, H-26, lx+28, H-26, colors[c], wd)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+34, H-22, c)
		lx += 140
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// panelSpec is one panel of ScaleSVG.
type panelSpec struct {
	left  int
	title string
	ns    []int
	value func(n int, contender string) (float64, bool)
	log   bool
}

func panel(b *strings.Builder, p panelSpec) {
	const top, ph, pw = 50, 280, 360
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, n := range p.ns {
		for _, c := range order {
			if v, ok := p.value(n, c); ok {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 10
	}
	var y func(float64) float64
	var ticks []float64
	if p.log {
		d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if d1 <= d0 {
			d1 = d0 + 1
		}
		y = func(v float64) float64 { return top + ph - (math.Log10(v)-d0)/(d1-d0)*ph }
		for d := d0; d <= d1; d++ {
			ticks = append(ticks, math.Pow(10, d))
		}
	} else {
		step := niceStep(hi / 5)
		yMax := math.Ceil(hi*1.05/step) * step
		y = func(v float64) float64 { return top + ph - v/yMax*ph }
		for v := 0.0; v <= yMax+step/2; v += step {
			ticks = append(ticks, v)
		}
	}
	w(`<text x="%d" y="%d" font-weight="bold" text-anchor="middle">%s</text>`+"\n", p.left+pw/2, top-10, esc(p.title))
	for _, t := range ticks {
		w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", p.left, y(t), p.left+pw, y(t))
		w(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", p.left-6, y(t)+4, short(t))
	}
	x := func(i int) float64 {
		if len(p.ns) == 1 {
			return float64(p.left) + pw/2
		}
		return float64(p.left) + 30 + float64(i)*float64(pw-60)/float64(len(p.ns)-1)
	}
	w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", p.left, top+ph, p.left+pw, top+ph)
	w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", p.left, top, p.left, top+ph)
	for i, n := range p.ns {
		w(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(i), top+ph+18, thousands(float64(n)))
	}
	w(`<text x="%d" y="%d" text-anchor="middle">clients (N)</text>`+"\n", p.left+pw/2, top+ph+36)
	for i, n := range p.ns {
		none := true
		for _, c := range order {
			if _, ok := p.value(n, c); ok {
				none = false
			}
		}
		if none {
			w(`<text x="%.1f" y="%d" text-anchor="middle" fill="#7f7f7f">not measured</text>`+"\n", x(i), top+ph/2)
		}
	}
	for _, c := range order {
		var pts []string
		for i, n := range p.ns {
			if v, ok := p.value(n, c); ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			}
		}
		series(b, c, pts, false)
	}
}
