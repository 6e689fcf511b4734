package report

import (
	"fmt"
	"math"
	"strings"
)

var colors = map[string]string{
	"raw-tcp":    "#7f7f7f",
	"gorilla":    "#1f77b4",
	"melody":     "#ff7f0e",
	"centrifuge": "#2ca02c",
	"pulse":      "#d62728",
}

// Geometry of the SVG chart: two panels side by side.
const (
	svgW, svgH         = 960, 420
	svgTop, svgBot     = 50, 90
	svgLeft1, svgLeft2 = 80, 560
	svgPW              = 360
	svgPH              = svgH - svgTop - svgBot
)

// SVG draws two panels against the number of clients: throughput at
// saturation, and p99 latency (log scale) at saturation (solid) and at the
// fixed rate (dashed).
func SVG(r Run) string {
	c := &chart{r: r, ns: r.ns(Broadcast)}
	c.w(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	c.w(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	c.w(`<text x="%d" y="22" font-size="15" font-weight="bold" text-anchor="middle">1 KiB broadcast to N WebSocket clients (%s, %s)</text>`+"\n", svgW/2, esc(r.Machine.CPUModel), r.Started.Format("2006-01-02"))
	if len(c.ns) == 0 {
		c.w("</svg>\n")
		return c.b.String()
	}
	c.throughputPanel()
	c.latencyPanel()
	c.legend()
	c.w("</svg>\n")
	return c.b.String()
}

// chart is the SVG being drawn for a run; ns are its numbers of clients,
// the x axis of both panels.
type chart struct {
	r  Run
	ns []int
	b  strings.Builder
}

func (c *chart) w(format string, args ...any) { fmt.Fprintf(&c.b, format, args...) }

// xAt is the x coordinate of the i-th number of clients in the panel at
// left.
func (c *chart) xAt(left int, i int) float64 {
	if len(c.ns) == 1 {
		return float64(left) + svgPW/2
	}
	return float64(left) + 30 + float64(i)*float64(svgPW-60)/float64(len(c.ns)-1)
}

// xAxis draws the axes of the panel at left and the x ticks.
func (c *chart) xAxis(left int) {
	const top, ph = svgTop, svgPH
	c.w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top+ph, left+svgPW, top+ph)
	c.w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, top+ph)
	for i, n := range c.ns {
		x := c.xAt(left, i)
		c.w(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x, top+ph, x, top+ph+5)
		c.w(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, top+ph+18, thousands(float64(n)))
	}
	c.w(`<text x="%d" y="%d" text-anchor="middle">clients (N)</text>`+"\n", left+svgPW/2, top+ph+36)
}

// throughputPanel draws panel 1: throughput at saturation, linear.
func (c *chart) throughputPanel() {
	const top, ph, left1, pw = svgTop, svgPH, svgLeft1, svgPW
	r := c.r
	var maxT float64
	for _, x := range r.select_(Broadcast, 0) {
		maxT = math.Max(maxT, x.PerSecond)
	}
	if maxT == 0 {
		maxT = 1
	}
	step := niceStep(maxT / 5)
	yMax := math.Ceil(maxT*1.05/step) * step
	yT := func(v float64) float64 { return float64(top+ph) - v/yMax*float64(ph) }
	c.w(`<text x="%d" y="%d" font-weight="bold" text-anchor="middle">Throughput at saturation (messages/s, higher is better)</text>`+"\n", left1+pw/2, top-10)
	for v := 0.0; v <= yMax+step/2; v += step {
		y := yT(v)
		c.w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", left1, y, left1+pw, y)
		c.w(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left1-6, y+4, short(v))
	}
	c.xAxis(left1)
	for _, name := range order {
		var pts []string
		for i, n := range c.ns {
			if x, ok := r.find(name, Broadcast, n, 0); ok && x.Err == "" {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.xAt(left1, i), yT(x.PerSecond)))
			}
		}
		series(&c.b, name, pts, false)
	}
}

// latencyPanel draws panel 2: p99 latency, log scale, at saturation and at
// each fixed rate.
func (c *chart) latencyPanel() {
	const top, ph, left2, pw = svgTop, svgPH, svgLeft2, svgPW
	r := c.r
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range r.Results {
		if x.Workload == Broadcast && x.Err == "" && x.P99ms > 0 {
			lo, hi = math.Min(lo, x.P99ms), math.Max(hi, x.P99ms)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0.1, 1000
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if d1 <= d0 {
		d1 = d0 + 1
	}
	yL := func(v float64) float64 {
		return float64(top+ph) - (math.Log10(v)-d0)/(d1-d0)*float64(ph)
	}
	c.w(`<text x="%d" y="%d" font-weight="bold" text-anchor="middle">p99 latency (ms, log; ● saturation, ○ dashed 1 Hz)</text>`+"\n", left2+pw/2, top-10)
	for d := d0; d <= d1; d++ {
		y := yL(math.Pow(10, d))
		c.w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", left2, y, left2+pw, y)
		c.w(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left2-6, y+4, short(math.Pow(10, d)))
	}
	c.xAxis(left2)
	for _, hz := range r.rates() {
		for _, name := range order {
			var pts []string
			for i, n := range c.ns {
				if x, ok := r.find(name, Broadcast, n, hz); ok && x.Err == "" && x.P99ms > 0 {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.xAt(left2, i), yL(x.P99ms)))
				}
			}
			series(&c.b, name, pts, hz != 0)
		}
	}
}

// legend draws one line per contender under the panels.
func (c *chart) legend() {
	lx := 160
	for _, name := range order {
		y := svgH - 22
		wd := 2
		if name == "pulse" {
			wd = 4
		}
		c.w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%d"/>`+"\n", lx, y-4, lx+28, y-4, colors[name], wd)
		c.w(`<text x="%d" y="%d">%s</text>`+"\n", lx+34, y, name)
		lx += 140
	}
}

func series(b *strings.Builder, c string, pts []string, dashed bool) {
	if len(pts) == 0 {
		return
	}
	wd := 2
	if c == "pulse" {
		wd = 4
	}
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="6,4"`
	}
	if len(pts) > 1 {
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="%d"%s points="%s"/>`+"\n", colors[c], wd, dash, strings.Join(pts, " "))
	}
	for _, p := range pts {
		x, y, _ := strings.Cut(p, ",")
		if dashed {
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="%d" fill="white" stroke="%s" stroke-width="2"/>`+"\n", x, y, wd+1, colors[c])
		} else {
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="%d" fill="%s"/>`+"\n", x, y, wd+1, colors[c])
		}
	}
}

func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64) string {
	switch {
	case v >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.2g", v/1e6), ".0") + "M"
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	case v >= 1:
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%g", v)
}

func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
