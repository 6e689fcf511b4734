/**
 * view.js: the part of pulse.Dashboard's view kept in the address, so
 * that a view can be shared and survives a reload.
 *
 *   q=<text>       the filter box
 *   server=1       the filter is also the server-side subscription
 *   range=<id>     the time range (5m, or a tier of the Hub: 1h, 24h by default); absent: live
 *   from=<ms>&to=<ms>  a zoomed window, Unix ms
 *   pin=<id>       a pinned chart, repeated in the pinned order
 *
 * Chart ids are families.js's: a metric name, a histogram's key without
 * its quantile label, avg(<name>).
 */

/** readView parses a query string. */
export function readView(search) {
  const q = new URLSearchParams(search);
  const from = Number(q.get("from")), to = Number(q.get("to"));
  const zoom = q.has("from") && q.has("to") && Number.isFinite(from) && Number.isFinite(to) && to > from ? { t0: from, t1: to } : null;
  return {
    q: q.get("q") || "",
    server: q.get("server") === "1",
    range: q.get("range") || "live",
    zoom,
    pins: [...new Set(q.getAll("pin").filter((p) => p !== ""))],
  };
}

/** viewQuery writes a view as a query string ("" for the default view). */
export function viewQuery(v) {
  const q = new URLSearchParams();
  if (v.q) q.set("q", v.q);
  if (v.server) q.set("server", "1");
  if (v.range && v.range !== "live") q.set("range", v.range);
  if (v.zoom) {
    q.set("from", String(Math.round(v.zoom.t0)));
    q.set("to", String(Math.round(v.zoom.t1)));
  }
  for (const p of v.pins) q.append("pin", p);
  return q.toString();
}

/** saveView puts a view in the address bar, without a new history entry. */
export function saveView(v) {
  const search = viewQuery(v);
  const url = search ? "?" + search : location.pathname;
  if (url !== (location.search || location.pathname)) history.replaceState(null, "", url);
}
