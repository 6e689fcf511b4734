package report

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
)

// StormRun is one run of cmd/storm.
type StormRun struct {
	Machine Machine
	Started time.Time
	Elapsed float64 // seconds
	Args    []string
	Pinned  bool
	RT      int
	Results []harness.StormResult
}

// Markers of the storm section in RELIABILITY.md.
const (
	stormBegin = "<!-- storm:begin"
	stormEnd   = "<!-- storm:end -->"
)

// ReplaceSection returns doc with its storm section (from the begin marker
// to the end marker, both included) replaced by section.
func ReplaceSection(doc, section string) (string, error) {
	i := strings.Index(doc, stormBegin)
	j := strings.Index(doc, stormEnd)
	if i < 0 || j < i {
		return "", errors.New("no storm section: add the lines <!-- storm:begin --> and <!-- storm:end --> where it goes")
	}
	return doc[:i] + strings.TrimRight(section, "\n") + doc[j+len(stormEnd):], nil
}

// StormMarkdown renders the storm section, markers included; chart is the
// chart's path relative to the document.
func StormMarkdown(r StormRun, chart string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("%s (written by `cd bench && go run ./cmd/storm`; do not edit by hand) -->\n", stormBegin)
	w("## Reconnect storms\n\n")
	cmd := strings.TrimSpace("go run ./cmd/storm " + strings.Join(r.Args, " "))
	m := r.Machine
	w("Measured by `cd bench && %s` on %s, in %s (%d CPUs, %s, %.0f GiB, %s); raw figures in [bench/results/storm.json](bench/results/storm.json). ",
		cmd, r.Started.Format("2006-01-02 15:04 MST"), (time.Duration(r.Elapsed) * time.Second).String(), m.CPUs, m.CPUModel, m.MemoryGiB, m.GoVersion)
	if r.Pinned && len(r.Results) > 0 {
		w("The server ran on CPU %s and the load generator on CPU %s (`taskset`)", r.Results[0].ServerCPUs, r.Results[0].LoadgenCPUs)
	} else {
		w("Server and load generator were **not pinned**")
	}
	if r.RT != 0 {
		w(", both under SCHED_RR priority %d (`-rt`)", r.RT)
	}
	w(".\n\n")
	w("N clients of the bench's pulse server (the 1 KiB broadcast at 1 Hz, `MaxClients` as in the table) are connected and live; then every connection ends at once: ")
	w("*drop*: the load generator closes them all, as a proxy that restarts would; *restart*: the server process shuts down as a deployment's SIGTERM handler does (`http.Server.Shutdown`, then `Hub.Shutdown`: a going-away close to every client) and a new process starts on the same address. ")
	w("Each client redials at a random time within the first second after losing its connection, then backs off as pulse's subscriber does (250 ms doubling to 30 s, less up to half of it at random; a 503's Retry-After wins when longer). ")
	w("A client is *live again* once a connection opened since the storm began has delivered a snapshot and then a delta. Times are from the storm's start. ")
	w("*-resume*: the same storm with clients that speak wire v2 and resume (the load generator's `-resume`): each redial presents the Hub's epoch and the last seq it had; a Hub that still knows what changed since answers a short hello and one merged delta (no catalogue, snapshot or history), and the client is live again at that delta; a restarted process has another epoch and answers a fresh connect. *drop-v2*: the drop with v2 clients that do not resume. *resumed*: connections the Hub resumed.\n\n")
	w("| storm | clients | MaxClients | all live again after | p50 / p90 / p99 | steady RSS | peak RSS | peak ÷ steady | RSS after | server CPU in the storm | peak CPU | peak fds | attempts | resumed | 503 (Retry-After) | refused | reset | other failures | listen overflows | other load |\n")
	w("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Results {
		if x.Err != "" {
			w("| %s | %s | %s | failed: %s ||||||||||||||||||\n", x.Variant, thousands(float64(x.N)), maxClients(x.MaxClients), strings.ReplaceAll(firstLine(x.Err), "|", "/"))
			continue
		}
		ls := x.LoadgenStatus
		allLive := fmt.Sprintf("%.2f s", x.LiveSeconds)
		if !x.AllLive {
			allLive = fmt.Sprintf("**not within %.0f s** (%s live)", x.LiveSeconds, thousands(float64(x.Live)))
		}
		ra := ""
		if v := num(ls, "retry_after_max_s"); v > 0 {
			ra = fmt.Sprintf(" (%.0f s)", v)
		}
		fails := num(ls, "status_other") + num(ls, "timeout") + num(ls, "local") + num(ls, "other")
		w("| %s | %s | %s | %s | %.2f / %.2f / %.2f s | %s MiB | %s MiB | %.2f× | %s MiB | %.2f s | %.0f%% | %s | %s | %s | %s%s | %s | %s | %s | %d | %s |\n",
			x.Variant, thousands(float64(x.N)), maxClients(x.MaxClients), allLive, x.TTLp50ms/1e3, x.TTLp90ms/1e3, x.TTLp99ms/1e3,
			f1(x.SteadyRSSKiB/1024), f1(x.PeakRSSKiB/1024), x.PeakRSSRatio, f1(x.EndRSSKiB/1024), x.StormCPU, 100*x.PeakCPU, thousands(float64(x.PeakFDs)),
			thousands(num(ls, "attempts")), thousands(num(ls, "resumed")), thousands(num(ls, "unavailable")), ra, thousands(num(ls, "refused")), thousands(num(ls, "reset")),
			thousands(fails), x.ListenOverflows, fmt.Sprintf("%.0f%%", 100*max(x.OtherCPU0, x.OtherCPU1)))
	}
	w("\n*steady RSS*: the server's peak RSS while all clients were live, before the storm; *peak RSS*: the (new) server's peak from the storm until 3 s after the last client was live again; *server CPU in the storm*: CPU seconds from the storm until all were live (for *restart*, the new process's); *peak fds*: the (new) server's most open descriptors in one reading (its RLIMIT_NOFILE bounds it); *attempts*: redials, successful or not; *listen overflows*: connections the kernel's accept queue had no room for (TcpExt:ListenOverflows); *other load*: the largest share of either core used by other processes.\n\n")
	w("Targets: every client live again within 10 s at 1 Hz, peak RSS at most 2× the steady state.\n\n")
	w("| storm | all live within 10 s | peak RSS ≤ 2× steady |\n|---|---|---|\n")
	for _, x := range r.Results {
		if x.Err != "" {
			w("| %s | not measured | not measured |\n", x.Variant)
			continue
		}
		w("| %s | %s | %s |\n", x.Variant, metText(x.AllLive && x.LiveSeconds <= 10, fmt.Sprintf("%.2f s", x.LiveSeconds)),
			metText(x.PeakRSSRatio <= 2, fmt.Sprintf("%.2f×", x.PeakRSSRatio)))
	}
	if chart != "" {
		w("\n![Clients live again and server RSS during each storm](%s)\n", chart)
	}
	w("\n%s\n", stormEnd)
	return b.String()
}

func maxClients(v int) string {
	switch {
	case v == 0:
		return "10,000 (default)"
	case v < 0:
		return "none"
	}
	return thousands(float64(v))
}

// num reads a number from a decoded JSON object.
func num(m map[string]any, k string) float64 {
	v, _ := m[k].(float64)
	return v
}

// StormSVG draws, per storm, the share of clients live and the server's
// RSS against the time since the storm began.
func StormSVG(r StormRun) string {
	const W, H, pw, ph, top = 960, 400, 360, 260, 50
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	w(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	w(`<text x="%d" y="22" font-size="15" font-weight="bold" text-anchor="middle">Reconnect storms: clients live again (red) and server RSS (blue), %s</text>`+"\n", W/2, r.Started.Format("2006-01-02"))
	for i, x := range r.Results {
		if i > 1 || len(x.Timeline) == 0 {
			continue
		}
		left := 80 + i*480
		tMax := math.Ceil(x.Timeline[len(x.Timeline)-1].T)
		rssMax := 0.0
		for _, s := range x.Timeline {
			rssMax = math.Max(rssMax, s.RSSKiB/1024)
		}
		rssMax = math.Ceil(math.Max(rssMax, 2*x.SteadyRSSKiB/1024) * 1.05)
		xAt := func(t float64) float64 { return float64(left) + t/tMax*pw }
		w(`<text x="%d" y="%d" font-weight="bold" text-anchor="middle">%s, N=%s</text>`+"\n", left+pw/2, top-10, x.Variant, thousands(float64(x.N)))
		w(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>`+"\n", left, top, pw, ph)
		for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
			y := top + ph - f*ph
			w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", left, y, left+pw, y)
			w(`<text x="%d" y="%.1f" text-anchor="end" fill="#d62728">%.0f%%</text>`+"\n", left-6, y+4, 100*f)
			w(`<text x="%d" y="%.1f" fill="#1f77b4">%.0f</text>`+"\n", left+pw+6, y+4, f*rssMax)
		}
		for t := 0.0; t <= tMax; t += math.Max(1, math.Round(tMax/8)) {
			w(`<text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n", xAt(t), top+ph+16, t)
		}
		w(`<text x="%d" y="%d" text-anchor="middle">seconds since the storm (right axis: RSS MiB; dashed: 2× steady)</text>`+"\n", left+pw/2, top+ph+34)
		y2 := top + ph - 2*x.SteadyRSSKiB/1024/rssMax*ph
		w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#1f77b4" stroke-dasharray="6,4"/>`+"\n", left, y2, left+pw, y2)
		var live, rss []string
		for _, s := range x.Timeline {
			live = append(live, fmt.Sprintf("%.1f,%.1f", xAt(s.T), top+ph-float64(s.Live)/float64(x.N)*ph))
			rss = append(rss, fmt.Sprintf("%.1f,%.1f", xAt(s.T), top+ph-s.RSSKiB/1024/rssMax*ph))
		}
		w(`<polyline fill="none" stroke="#d62728" stroke-width="3" points="%s"/>`+"\n", strings.Join(live, " "))
		w(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>`+"\n", strings.Join(rss, " "))
	}
	w("</svg>\n")
	return b.String()
}
