/**
 * chart.js: drawing one chart of pulse.Dashboard on its canvas.
 *
 * A chart is a time window {t0, t1} (Unix ms, shared by every chart), a
 * value axis fitted to the lines shown, and up to a few dozen lines, each
 * {times, vals, color}: arrays aligned, oldest first, null where there is
 * no point. Nothing here keeps state but the time axis cache: the caller
 * says what to draw, paint draws it and returns what the figures, the
 * legend and the hover need.
 *
 * Cost: a line with more than two points per pixel column is drawn as the
 * min and max of each column; the time axis, the same for every chart of a
 * size, is drawn once per window and copied.
 */
import { axisLabel, clockTime } from "./format.js";

export const PAD_TOP = 6;      // CSS px above the plot
export const PAD_BOTTOM = 16;  // CSS px below it, for the time labels
export const GUTTER = 46;      // CSS px left of it, for the value labels
export const FONT_STACK = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
export const FONT = "10px " + FONT_STACK;

/** xOf is the x (CSS px) of time t in a chart W CSS px wide. */
export function xOf(t, win, W) {
  return GUTTER + (t - win.t0) / (win.t1 - win.t0) * (W - GUTTER);
}

/** tOf is the time at x (CSS px), clamped to the window. */
export function tOf(x, win, W) {
  const f = Math.min(1, Math.max(0, (x - GUTTER) / (W - GUTTER)));
  return win.t0 + f * (win.t1 - win.t0);
}

/** lowerBound is the first index of the ascending times at or after t. */
export function lowerBound(times, t) {
  let lo = 0, hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** nearest is the index of the time closest to t in [t0, t1], or -1. */
export function nearest(times, t, win) {
  const i = lowerBound(times, t);
  let best = -1, dist = Infinity;
  for (const j of [i - 1, i]) {
    if (j < 0 || j >= times.length || times[j] < win.t0 || times[j] > win.t1) continue;
    const d = Math.abs(times[j] - t);
    if (d < dist) { best = j; dist = d; }
  }
  return best;
}

// span is the index range [a, b) of the points in the window.
function span(times, win) {
  return [lowerBound(times, win.t0), lowerBound(times, win.t1 + 0.5)];
}

// stats are the points, range and last value of each line in the window.
function stats(lines, win) {
  let lo = Infinity, hi = -Infinity;
  const per = lines.map((l) => {
    const [a, b] = span(l.times, win);
    let n = 0, min = Infinity, max = -Infinity, last = null;
    for (let i = a; i < b; i++) {
      const v = l.vals[i];
      if (v === null || v === undefined) continue;
      last = v;
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
      n++;
    }
    if (n > 0) {
      lo = Math.min(lo, min);
      hi = Math.max(hi, max);
    }
    return { points: n, min, max, last, a, b };
  });
  return { lo, hi, per };
}

/**
 * niceScale is a value axis from y0 to y1 with grid lines at round values
 * (rows), about three intervals; zero-based when the values are positive
 * and not far from zero, or constant. Bytes get round binary values.
 */
export function niceScale(lo, hi, unit) {
  if (!(lo <= hi)) {
    lo = 0;
    hi = 1;
  } else if (lo === hi) {
    if (lo === 0) hi = 1;
    else if (lo > 0) lo = 0;
    else hi = 0;
  } else if (lo >= 0 && lo <= hi * 0.35) {
    lo = 0;
  }
  let f = 1;
  if (unit === "bytes") {
    const a = Math.max(Math.abs(lo), Math.abs(hi));
    while (f * 1024 <= a && f < 1024 ** 6) f *= 1024;
  }
  const raw = (hi - lo) / f / 3;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag * f;
  const y0 = Math.floor(lo / step) * step;
  let y1 = Math.ceil(hi / step) * step;
  if (y1 <= y0) y1 = y0 + step;
  const rows = [];
  for (let i = 0; i <= 6; i++) {
    const v = Number((y0 + i * step).toPrecision(12));
    if (v > y1 + step / 2) break;
    rows.push(v);
  }
  return { y0, y1, rows };
}

/**
 * paint draws a chart. c is {canvas, ctx, w, h, cssW, cssH} (device and
 * CSS size); lines the lines to draw; opts {colors, unit, rate, fill, hover
 * (a time or NaN), band ([x0, x1] CSS px of a zoom selection, or null)}.
 * It returns {per: [{points, min, max, last, a, b}], hover: {t, index per
 * line} or null, points} for the figures, the legend and the tooltip.
 */
export function paint(c, lines, win, opts) {
  const ctx = context(c);
  const W = c.cssW, H = c.cssH, sx = c.w / W, sy = c.h / H;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = opts.colors.card;
  ctx.fillRect(0, 0, c.w, c.h);
  ctx.drawImage(timeAxis(c, win, opts.colors), 0, 0);
  ctx.setTransform(sx, 0, 0, sy, 0, 0);

  const top = PAD_TOP, bottom = H - PAD_BOTTOM;
  const st = stats(lines, win);
  const points = st.per.reduce((n, p) => n + p.points, 0);
  const { y0, y1, rows } = niceScale(st.lo, st.hi, opts.unit);
  const yOf = (v) => bottom - (v - y0) / (y1 - y0) * (bottom - top);
  drawRows(ctx, rows, yOf, W, sy, opts);
  const result = { per: st.per, hover: null, points };
  if (opts.band) drawBand(ctx, opts.band, top, bottom, opts.colors);
  if (points === 0) {
    ctx.textAlign = "center";
    const any = lines.some((l) => l.vals.length > 0);
    ctx.fillText(opts.empty || (any ? "no data in view" : "waiting for data"), (GUTTER + W) / 2, (top + bottom) / 2);
    return result;
  }
  ctx.textAlign = "right";
  for (const v of rows) ctx.fillText(axisLabel(v, opts.unit, opts.rate), GUTTER - 6, yOf(v), GUTTER - 6);

  // Lines run to the edges of a window that cuts them (zoomed, paused): a
  // point each side, clipped. Live, nothing is cut and nothing is clipped.
  const cut = st.per.some((p, i) => p.a > 0 || p.b < lines[i].times.length);
  if (cut) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, W - GUTTER, H);
    ctx.clip();
  }
  const fill = opts.fill && lines.length === 1;
  lines.forEach((l, i) => drawLine(ctx, l, st.per[i], win, { W, sx, bottom, yOf, fill, cut, width: lines.length > 1 ? 1.4 : 1.6 }));
  if (cut) ctx.restore();
  if (Number.isFinite(opts.hover)) result.hover = drawHover(ctx, lines, win, opts, { W, top, bottom, yOf });
  return result;
}

function context(c) {
  if (!c.ctx) {
    // Once, and again after a resize, which resets a canvas's state.
    // Opaque: cheaper to composite than a transparent canvas.
    c.ctx = c.canvas.getContext("2d", { alpha: false });
    c.ctx.font = FONT;
  }
  return c.ctx;
}

// drawRows draws the horizontal grid lines.
function drawRows(ctx, rows, yOf, W, sy, opts) {
  ctx.lineWidth = 1;
  ctx.strokeStyle = opts.colors.grid;
  ctx.beginPath();
  for (const v of rows) {
    const y = Math.round(yOf(v) * sy) / sy + 0.5 / sy;
    ctx.moveTo(GUTTER, y);
    ctx.lineTo(W, y);
  }
  ctx.stroke();
  ctx.fillStyle = opts.colors.axis;
  ctx.textBaseline = "middle";
}

function drawBand(ctx, band, top, bottom, colors) {
  const [x0, x1] = band[0] <= band[1] ? band : [band[1], band[0]];
  ctx.globalAlpha = 0.18;
  ctx.fillStyle = colors.accent;
  ctx.fillRect(Math.max(GUTTER, x0), top, x1 - Math.max(GUTTER, x0), bottom - top);
  ctx.globalAlpha = 1;
}

// drawLine draws one line, and the area under it when asked, with a gap
// where there is no value. With more than two points per pixel column each
// column is drawn as the min and max of its points, in the order they came.
function drawLine(ctx, l, p, win, g) {
  const line = new Path2D();
  const area = g.fill ? new Path2D() : null;
  const a = g.cut ? Math.max(0, p.a - 1) : p.a, b = g.cut ? Math.min(l.times.length, p.b + 1) : p.b;
  const xScale = (g.W - GUTTER) / (win.t1 - win.t0);
  const bucket = p.points > 2 * (g.W - GUTTER) * g.sx;
  let pen = false, segX = 0, lastX = 0, lastV = 0;
  let col = NaN, bMin = 0, bMax = 0, iMin = 0, iMax = 0, bN = 0;
  const put = (x, v) => {
    const y = g.yOf(v);
    if (pen) {
      line.lineTo(x, y);
      area?.lineTo(x, y);
    } else {
      line.moveTo(x, y);
      area?.moveTo(x, g.bottom);
      area?.lineTo(x, y);
      segX = x;
      pen = true;
    }
    lastX = x;
    lastV = v;
  };
  const flush = () => {
    if (bN === 0) return;
    const x = col / g.sx;
    if (bMin === bMax) put(x, bMin);
    else if (iMin < iMax) { put(x, bMin); put(x, bMax); }
    else { put(x, bMax); put(x, bMin); }
    bN = 0;
  };
  const endSegment = () => {
    flush();
    if (!pen) return;
    area?.lineTo(lastX, g.bottom);
    area?.lineTo(segX, g.bottom);
    area?.closePath();
    if (lastX === segX) line.rect(segX - 1, g.yOf(lastV) - 1, 2, 2); // a lone point
    pen = false;
  };
  for (let i = a; i < b; i++) {
    const v = l.vals[i];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      endSegment();
      continue;
    }
    const x = GUTTER + (l.times[i] - win.t0) * xScale;
    if (!bucket) {
      put(x, v);
      continue;
    }
    const px = Math.round(x * g.sx);
    if (px !== col) {
      flush();
      col = px;
      bMin = bMax = v;
      iMin = iMax = 0;
      bN = 1;
    } else {
      if (v < bMin) { bMin = v; iMin = bN; }
      if (v > bMax) { bMax = v; iMax = bN; }
      bN++;
    }
  }
  endSegment();
  if (area) {
    ctx.globalAlpha = 0.12;
    ctx.fillStyle = l.color;
    ctx.fill(area);
    ctx.globalAlpha = 1;
  }
  ctx.strokeStyle = l.color;
  ctx.lineWidth = g.width;
  ctx.lineJoin = "bevel"; // cheaper to rasterize than round, the same at this width
  ctx.stroke(line);
}

// drawHover draws the crosshair at the tick nearest the hovered time, and a
// dot on each line there. It returns {t, index: [per line index or -1]}.
function drawHover(ctx, lines, win, opts, g) {
  let t = NaN;
  for (const l of lines) {
    const i = nearest(l.times, opts.hover, win);
    if (i >= 0 && (Number.isNaN(t) || Math.abs(l.times[i] - opts.hover) < Math.abs(t - opts.hover))) t = l.times[i];
  }
  if (Number.isNaN(t)) return null;
  const x = xOf(t, win, g.W);
  ctx.strokeStyle = opts.colors.axis;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(Math.round(x) + 0.5, g.top);
  ctx.lineTo(Math.round(x) + 0.5, g.bottom);
  ctx.stroke();
  const index = lines.map((l) => {
    const i = lowerBound(l.times, t);
    if (i >= l.times.length || l.times[i] !== t) return -1;
    const v = l.vals[i];
    if (v !== null && Number.isFinite(v)) {
      ctx.fillStyle = l.color;
      ctx.beginPath();
      ctx.arc(x, g.yOf(v), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    return i;
  });
  return { t, index };
}

// The time axis: vertical grid lines and time labels at round times. It is
// the same for every chart of a size in a frame, so it is drawn once into
// an offscreen canvas and copied.
const axisCache = new Map(); // size -> {canvas, ctx, drawn: the window it shows}
const TIME_STEPS = [100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5];

function timeAxis(c, win, colors) {
  const drawn = win.t0 + "|" + win.t1 + "|" + colors.axis + colors.grid;
  const key = c.w + "x" + c.h + "/" + c.cssW + "x" + c.cssH;
  let a = axisCache.get(key);
  if (a && a.drawn === drawn) return a.canvas;
  if (!a) {
    if (axisCache.size >= 8) axisCache.clear();
    const canvas = document.createElement("canvas");
    canvas.width = c.w;
    canvas.height = c.h;
    a = { canvas, ctx: canvas.getContext("2d"), drawn: "" };
    axisCache.set(key, a);
  }
  a.drawn = drawn;
  drawTimeAxis(a.ctx, c, win, colors);
  return a.canvas;
}

function drawTimeAxis(ctx, c, win, colors) {
  const W = c.cssW, H = c.cssH, sx = c.w / W, sy = c.h / H;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, c.w, c.h);
  ctx.setTransform(sx, 0, 0, sy, 0, 0);
  const bottom = H - PAD_BOTTOM;
  const span = win.t1 - win.t0;
  ctx.font = FONT;
  const labelW = ctx.measureText("00:00:00").width + 12;
  const step = TIME_STEPS.find((s) => span / s <= (W - GUTTER) / labelW) || TIME_STEPS[TIME_STEPS.length - 1];
  // Round times in local time: shift by the zone's offset.
  const shift = -new Date(win.t1).getTimezoneOffset() * 60000;
  ctx.strokeStyle = colors.grid;
  ctx.lineWidth = 1;
  ctx.fillStyle = colors.axis;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const grid = new Path2D();
  for (let t = Math.ceil((win.t0 + shift) / step) * step - shift; t <= win.t1; t += step) {
    const x = Math.round((GUTTER + (t - win.t0) / span * (W - GUTTER)) * sx) / sx + 0.5 / sx;
    grid.moveTo(x, PAD_TOP);
    grid.lineTo(x, bottom + 3);
    const text = clockTime(t, step);
    const w = ctx.measureText(text).width;
    if (x - w / 2 >= GUTTER - 10 && x + w / 2 <= W) ctx.fillText(text, x, bottom + 4);
  }
  ctx.setLineDash([2, 3]);
  ctx.stroke(grid);
  ctx.setLineDash([]);
}
