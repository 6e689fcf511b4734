package main

// The dashboard's range buttons come from the Hub's tiers (its hello), in
// Chromium. The conventions are those of browser_test.go.

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

// TestDashboardCustomTiers: a Hub with a 1 s tier for 30 s and a 10 min
// tier for 7 days (and not the defaults) offers live, 5 min, 30 s and 7 d;
// the 30 s button loads that tier; a shared view of it (?range=30s) opens
// on it once the hello has listed it.
func TestDashboardCustomTiers(t *testing.T) {
	hub, base := shopHubWith(t, pulse.Options{Interval: 100 * time.Millisecond, History: 3000, Tiers: []pulse.Tier{
		{Name: "30s", Step: time.Second, Span: 30 * time.Second},
		{Name: "7d", Step: 10 * time.Minute, Span: 7 * 24 * time.Hour},
	}})
	b := newBrowser(t) // after the server: its cleanup runs first
	b.run(chromedp.EmulateViewport(1280, 1000))
	b.navigate(base)
	b.waitFor("live", jsDashState+` === "live"`)
	b.waitFor("the tiers' buttons", `document.querySelector('#ranges [data-range="30s"]') !== null`)

	buttons := `[...document.querySelectorAll("#ranges [data-range]")]`
	require.Equal(t, []string{"live", "5m", "30s", "7d"}, eval[[]string](b, buttons+`.map((e) => e.dataset.range)`), "the Hub's tiers, not the defaults")
	require.Equal(t, []string{"live", "5 min", "30 s", "7 d"}, eval[[]string](b, buttons+`.map((e) => e.textContent)`))
	require.Equal(t, []string{"1", "2", "3", "4"}, eval[[]string](b, buttons+`.map((e) => e.getAttribute("aria-keyshortcuts"))`))
	require.Equal(t, "Show the last 30 s, from the Hub's 1 s buckets (key 3)", eval[string](b, `document.querySelector('#ranges [data-range="30s"]').title`))
	require.Equal(t, "range: live, 5 min, 30 s, 7 d", eval[string](b, `document.getElementById("keys-ranges").textContent`))

	b.waitFor("3 s of ticks", `dashboard.client.seq >= 30`)
	const key = `shop_queue_depth{queue="q00"}`
	b.click(`#ranges [data-range="30s"]`)
	b.waitFor("the 30 s tier", `dashboard.range === "30s" && dashboard.source.tier === "30s" && dashboard.source.ready && new URLSearchParams(location.search).get("range") === "30s"`)
	require.Equal(t, 30000.0, eval[float64](b, `(() => { const w = dashboard.window(); return w.t1 - w.t0; })()`))
	requireTierShown(t, b, hub, key, "30s", 1000)

	eval[chromedp.Void](b, `document.activeElement.blur()`)
	b.keys("4")
	b.waitFor("the 7 d tier", `dashboard.range === "7d" && dashboard.source.tier === "7d" && dashboard.source.ready`)

	// A shared view: the page knows only the defaults until the hello.
	b.navigate(base + "?range=30s")
	b.waitFor("the shared range", `dashboard.range === "30s" && dashboard.source.tier === "30s" && dashboard.source.ready`)

	// A server that announces no tiers (an older one) is taken to keep the defaults.
	ids := evalAsync[[]string](b, `import(new URL("ranges.js", location.href)).then((r) => r.rangesFor({ tiers: null }).map((x) => x.id + "=" + x.label))`)
	require.Equal(t, []string{"live=live", "5m=5 min", "1h=1 h", "24h=24 h"}, ids)
	none := evalAsync[[]string](b, `import(new URL("ranges.js", location.href)).then((r) => r.rangesFor({ tiers: [] }).map((x) => x.id))`)
	require.Equal(t, []string{"live", "5m"}, none, "a Hub that keeps no tiers")
	b.noPageErrors()
}
