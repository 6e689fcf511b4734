/**
 * interact.js: the pointer and the keyboard on pulse.Dashboard's charts.
 *
 * - Hover: a crosshair at the tick nearest the pointer, and a tooltip with
 *   its exact time and the value of every line drawn, largest first.
 * - Drag across a chart: zoom every chart to that window. Double-click, or
 *   Escape: back to the selected range.
 * - A chart's canvas is focusable (a slider over time): Left/Right move the
 *   crosshair one tick (Shift: ten), Home/End to the ends, + and - zoom in
 *   and out around it, Escape lets go. The tooltip's text is its value.
 * - A pinned chart's grip: drag it among the pinned charts, or press the
 *   arrow keys on it, to reorder them.
 *
 * The listeners are delegated: a few on the page, none per chart.
 */
import { tOf, xOf } from "./chart.js";

const DRAG_START = 4;  // CSS px the pointer moves before a press becomes a selection
const MIN_BAND = 6;    // CSS px a selection must span to zoom

export function bindInteractions(app) {
  const main = app.main;
  let drag = null; // {kind: "zoom"|"pin", card, x0, id, active}

  main.addEventListener("pointermove", (ev) => {
    if (drag && drag.id === ev.pointerId) return dragMove(app, drag, ev);
    const card = canvasCard(app, ev.target);
    if (card) hoverAt(app, card, ev.clientX, ev.clientY, false);
  });
  main.addEventListener("pointerout", (ev) => {
    const card = canvasCard(app, ev.target);
    if (card && !drag && app.hover && app.hover.card === card && !app.hover.keyboard) app.setHover(null);
  });
  main.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    const grip = ev.target.closest(".grip");
    const card = grip ? app.cardOf(grip) : canvasCard(app, ev.target);
    if (!card) return;
    if (grip) ev.preventDefault(); // no text selection while reordering
    drag = { kind: grip ? "pin" : "zoom", card, x0: ev.clientX, id: ev.pointerId, active: !!grip };
    ev.target.setPointerCapture?.(ev.pointerId);
  });
  const end = (ev) => {
    if (!drag || drag.id !== ev.pointerId) return;
    const d = drag;
    drag = null;
    dragEnd(app, d, ev, ev.type === "pointerup");
  };
  main.addEventListener("pointerup", end);
  main.addEventListener("pointercancel", end);
  main.addEventListener("dblclick", (ev) => {
    if (canvasCard(app, ev.target)) app.resetZoom();
  });
  main.addEventListener("keydown", (ev) => {
    const grip = ev.target.closest?.(".grip");
    if (grip) return gripKey(app, app.cardOf(grip), ev);
    const card = canvasCard(app, ev.target);
    if (card) canvasKey(app, card, ev);
  });
  main.addEventListener("focusin", (ev) => {
    const card = canvasCard(app, ev.target);
    if (card && (!app.hover || app.hover.card !== card)) keyboardHover(app, card, card.drawn ? card.drawn.win.t1 : NaN);
  });
  main.addEventListener("focusout", (ev) => {
    const card = canvasCard(app, ev.target);
    if (card && app.hover && app.hover.card === card) app.setHover(null);
  });
}

function canvasCard(app, el) {
  return el && el.tagName === "CANVAS" ? app.cardOf(el) : null;
}

function hoverAt(app, card, clientX, clientY, keyboard) {
  const r = card.canvas.getBoundingClientRect();
  const t = tOf(clientX - r.left, app.window(), card.cssW || r.width);
  app.setHover({ card, t, clientX, clientY, keyboard });
}

// keyboardHover puts the crosshair at time t, the tooltip under it.
function keyboardHover(app, card, t) {
  if (!Number.isFinite(t)) return;
  const r = card.canvas.getBoundingClientRect();
  const x = r.left + xOf(t, app.window(), card.cssW || r.width);
  app.setHover({ card, t, clientX: x, clientY: r.top + r.height / 2, keyboard: true });
}

function dragMove(app, d, ev) {
  if (d.kind === "pin") return pinDragMove(app, d, ev);
  if (!d.active && Math.abs(ev.clientX - d.x0) < DRAG_START) return;
  d.active = true;
  const r = d.card.canvas.getBoundingClientRect();
  app.setBand(d.card, [d.x0 - r.left, Math.min(Math.max(ev.clientX, r.left), r.right) - r.left]);
  hoverAt(app, d.card, ev.clientX, ev.clientY, false);
}

function dragEnd(app, d, ev, done) {
  if (d.kind === "pin") {
    d.card.el.classList.remove("dragging");
    if (done) app.reorderPins();
    return;
  }
  app.setBand(d.card, null);
  if (!done || !d.active) return;
  const r = d.card.canvas.getBoundingClientRect();
  const x1 = Math.min(Math.max(ev.clientX, r.left), r.right);
  if (Math.abs(x1 - d.x0) < MIN_BAND) return;
  const win = app.window(), W = d.card.cssW || r.width;
  const a = tOf(Math.min(d.x0, x1) - r.left, win, W), b = tOf(Math.max(d.x0, x1) - r.left, win, W);
  app.zoomTo(a, b);
}

// pinDragMove moves the dragged pinned card before or after the pinned
// card under the pointer.
function pinDragMove(app, d, ev) {
  d.card.el.classList.add("dragging");
  const under = document.elementFromPoint(ev.clientX, ev.clientY)?.closest(".card.pinned");
  if (!under || under === d.card.el) return;
  const r = under.getBoundingClientRect();
  const oneColumn = r.width > under.parentNode.clientWidth * 0.7;
  const after = oneColumn ? ev.clientY > r.top + r.height / 2 : ev.clientX > r.left + r.width / 2;
  under.parentNode.insertBefore(d.card.el, after ? under.nextSibling : under);
}

function gripKey(app, card, ev) {
  const delta = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }[ev.key];
  if (!delta || !card) return;
  ev.preventDefault();
  app.movePin(card.spec.id, delta);
  card.grip.focus();
}

// canvasKey moves the crosshair and zooms from the keyboard.
function canvasKey(app, card, ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const d = card.drawn;
  const times = d && d.lines.length ? d.lines[0].times : [];
  const win = app.window();
  const inWin = times.filter((t) => t >= win.t0 && t <= win.t1);
  const cur = app.hover && app.hover.card === card ? app.hover.t : win.t1;
  let i = nearestIndex(inWin, cur);
  switch (ev.key) {
    case "ArrowLeft": i -= ev.shiftKey ? 10 : 1; break;
    case "ArrowRight": i += ev.shiftKey ? 10 : 1; break;
    case "Home": i = 0; break;
    case "End": i = inWin.length - 1; break;
    case "+": case "=": app.zoomBy(0.5, cur); ev.preventDefault(); return;
    case "-": case "_": app.zoomBy(2, cur); ev.preventDefault(); return;
    case "Escape":
      if (app.hover && app.hover.card === card) {
        app.setHover(null);
        ev.stopPropagation();
        ev.preventDefault();
      }
      return;
    default: return;
  }
  ev.preventDefault();
  if (inWin.length === 0) return;
  keyboardHover(app, card, inWin[Math.max(0, Math.min(inWin.length - 1, i))]);
}

function nearestIndex(times, t) {
  let best = times.length - 1, dist = Infinity;
  times.forEach((x, i) => {
    const dd = Math.abs(x - t);
    if (dd < dist) { dist = dd; best = i; }
  });
  return best;
}

/**
 * renderTip fills and places the tooltip for the hovered card, after it is
 * drawn; for the keyboard it also sets the slider's value text.
 */
export function renderTip(tip, hover) {
  const rows = hover && hover.card.hoverRows();
  if (!rows) {
    tip.hidden = true;
    return;
  }
  const items = [el("div", "ttime", rows.time)];
  const max = 14;
  for (const r of rows.rows.slice(0, max)) {
    const row = el("div", "trow", "");
    row.dataset.line = r.id;
    row.dataset.value = String(r.value);
    const sw = el("i", "sw", "");
    sw.style.background = r.color;
    row.append(sw, el("span", "tlabel", r.label), el("span", "tval", r.text));
    items.push(row);
  }
  if (rows.rows.length > max) items.push(el("div", "tmore", `… ${rows.rows.length - max} more`));
  tip.replaceChildren(...items);
  tip.dataset.time = String(rows.t);
  tip.hidden = false;
  place(tip, hover.clientX, hover.clientY);
  const canvas = hover.card.canvas;
  const valueText = rows.time + ": " + rows.rows.map((r) => (rows.rows.length > 1 ? r.label + " " : "") + r.text).join(", ");
  canvas.setAttribute("aria-valuetext", valueText);
  canvas.setAttribute("aria-valuenow", String(rows.t));
}

function place(tip, x, y) {
  const w = tip.offsetWidth, h = tip.offsetHeight;
  const left = x + 14 + w > innerWidth ? Math.max(4, x - 14 - w) : x + 14;
  const top = Math.min(Math.max(4, y - h / 2), innerHeight - h - 4);
  tip.style.transform = `translate(${Math.round(left)}px, ${Math.round(top)}px)`;
}

function el(tag, cls, txt) {
  const e = document.createElement(tag);
  e.className = cls;
  if (txt) e.textContent = txt;
  return e;
}
