/**
 * export.js: a chart's visible range as CSV, and the chart as PNG
 * (pulse.Dashboard).
 *
 * CSV: one row per tick in the chart's time window, oldest first, one
 * column per line shown, as plotted:
 *
 *   time,unix_ms,<column>,...
 *   2026-12-03T08:05:07.000Z,1796285107000,12.5,3
 *
 * time is ISO 8601 in UTC, unix_ms the same instant in Unix milliseconds
 * (the Hub's ts). A column is named by its series key, rate(<key>) for a
 * counter plotted as its per-second rate, avg(<key>) for a histogram's
 * average. Values have every digit (the shortest text that reads back as
 * the same float64); NaN, +Inf and -Inf are written so; an empty cell is no
 * point. Fields are quoted as RFC 4180 says (keys hold quotes and commas).
 */
import { csvNumber } from "./format.js";
import { FONT_STACK, lowerBound } from "./chart.js";

/** csvField quotes a field when it needs it. */
export function csvField(s) {
  s = String(s);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/**
 * toCSV writes columns ([{name, times, vals}]) over the window {t0, t1}:
 * a row per time any column has in it.
 */
export function toCSV(columns, win) {
  const times = new Set();
  for (const c of columns) {
    for (let i = lowerBound(c.times, win.t0); i < c.times.length && c.times[i] <= win.t1; i++) times.add(c.times[i]);
  }
  const rows = [["time", "unix_ms", ...columns.map((c) => c.name)].map(csvField).join(",")];
  for (const t of [...times].sort((a, b) => a - b)) {
    const cells = [new Date(t).toISOString(), String(t)];
    for (const c of columns) {
      const i = lowerBound(c.times, t);
      cells.push(i < c.times.length && c.times[i] === t ? csvNumber(c.vals[i]) : "");
    }
    rows.push(cells.join(","));
  }
  return rows.join("\r\n") + "\r\n";
}

/** fileName makes a file name of a chart id and a time: http_requests_total-20261203T080507Z.csv. */
export function fileName(id, t, ext) {
  const base = id.replace(/[^A-Za-z0-9_.=-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 120) || "chart";
  const when = new Date(t).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${base}-${when}.${ext}`;
}

/** download saves a Blob as a file, through a temporary object URL. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.rel = "noopener";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/**
 * chartImage draws a card as an image: its title and labels, the chart
 * canvas as drawn, and its legend (colour, name, value) under it. It
 * returns the canvas; the caller encodes it.
 */
export function chartImage({ title, labels, canvas, legend, colors }) {
  const scale = canvas.width / Math.max(1, canvas.clientWidth || canvas.width);
  const W = canvas.width / scale;
  const pad = 12, lineH = 16;
  const cols = Math.max(1, Math.floor((W - 2 * pad) / 180));
  const legendRows = Math.ceil(legend.length / cols);
  const head = pad + 18 + (labels ? 14 : 0) + 6;
  const H = head + canvas.height / scale + (legend.length ? 8 + legendRows * lineH : 0) + pad;
  const out = document.createElement("canvas");
  out.width = Math.round((W + 2 * pad) * scale);
  out.height = Math.round(H * scale);
  const ctx = out.getContext("2d");
  ctx.scale(scale, scale);
  ctx.fillStyle = colors.card;
  ctx.fillRect(0, 0, W + 2 * pad, H);
  ctx.textBaseline = "top";
  ctx.fillStyle = colors.fg;
  ctx.font = "600 13px " + FONT_STACK;
  ctx.fillText(title, pad, pad, W);
  ctx.fillStyle = colors.axis;
  ctx.font = "11px " + FONT_STACK;
  if (labels) ctx.fillText(labels, pad, pad + 18, W);
  ctx.drawImage(canvas, pad, head, W, canvas.height / scale);
  const colW = W / cols;
  legend.forEach((item, i) => {
    const x = pad + (i % cols) * colW, y = head + canvas.height / scale + 8 + Math.floor(i / cols) * lineH;
    ctx.fillStyle = item.color;
    ctx.fillRect(x, y + 3, 10, 3);
    ctx.fillStyle = colors.fg;
    ctx.fillText(item.label + "  " + item.value, x + 15, y, colW - 20);
  });
  return out;
}
