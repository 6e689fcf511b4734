/**
 * constants.js: series that do not change (pulse.Dashboard).
 *
 * A limit (go_gc_gomemlimit_bytes, 8 EiB when unset), a build's info
 * series, a counter that never moved: as charts they are flat lines that
 * take the room of a real chart. A chart all of whose series held one value
 * over the whole history the page holds (at least MIN_TICKS ticks) leaves
 * the grid for a compact list under it, a row per series; it comes back as
 * a chart on its first change. A pinned chart stays a chart.
 *
 * ConstantTracker keeps, per series, the time of its last change: from the
 * history on a snapshot, then from each delta's changed values, so a tick
 * costs O(changed series), not O(points).
 */
import { labelText } from "./families.js";
import { spanText, text } from "./format.js";

/** Ticks a series must have held one value before it counts as constant. */
export const MIN_TICKS = 10;

const same = (a, b) => a === b || (Number.isNaN(a) && Number.isNaN(b));

export class ConstantTracker {
  #seen = new Map(); // key -> {last, changed, first}: the last value, when it last changed, its first point

  /** reset reads every series' history: after a snapshot or a history. */
  reset(client) {
    this.#seen.clear();
    for (const key of client.state.series.keys()) {
      const h = client.history(key);
      if (!h) continue;
      let s = null;
      for (let i = 0; i < h.times.length; i++) {
        const v = h.values[i];
        if (v === null) continue;
        if (!s) s = { last: v, changed: -Infinity, first: h.times[i] };
        else if (!same(v, s.last)) {
          s.changed = h.times[i];
          s.last = v;
        }
      }
      if (s) this.#seen.set(key, s);
    }
  }

  /** update takes a delta's changes. */
  update(client, changes) {
    for (const key of changes.removed) this.#seen.delete(key);
    for (const key of changes.keys) {
      const v = client.value(key);
      if (v === undefined) continue;
      const s = this.#seen.get(key);
      if (!s) this.#seen.set(key, { last: v, changed: -Infinity, first: changes.ts });
      else if (!same(v, s.last)) {
        s.changed = changes.ts;
        s.last = v;
      }
    }
  }

  /** isConstant: key held one value from start (the oldest point held) to end, for at least minSpan ms. */
  isConstant(key, start, end, minSpan) {
    const s = this.#seen.get(key);
    return !!s && s.changed <= start && end - s.first >= minSpan;
  }
}

/** ConstantList is the compact list of the constant charts' series. */
export class ConstantList {
  constructor(section, onPin) {
    this.section = section;
    this.list = section.querySelector("ul");
    this.count = section.querySelector(".ccount");
    this.span = section.querySelector(".cspan");
    this.onPin = onPin;
    this.ids = "";
    this.rows = []; // {card, line, val}
  }

  /** render shows the series of the constant cards (in order); heldMs is the span they held still. */
  render(cards, heldMs) {
    const ids = cards.map((c) => c.spec.id).join("\n");
    setText(this.span, heldMs > 0 ? `unchanged over the last ${spanText(heldMs)}` : "");
    if (ids !== this.ids) {
      this.ids = ids;
      this.build(cards);
    }
    this.section.hidden = cards.length === 0;
  }

  build(cards) {
    this.rows = [];
    const items = [];
    for (const card of cards) {
      for (const line of card.spec.lines) items.push(this.row(card, line));
    }
    this.list.replaceChildren(...items);
    setText(this.count, String(this.rows.length));
  }

  row(card, line) {
    const li = document.createElement("li");
    li.className = "const";
    li.dataset.key = line.key || line.id;
    li.dataset.chart = card.spec.id;
    const det = document.createElement("details");
    const sum = document.createElement("summary");
    const name = span("cname", card.spec.title);
    const labels = span("clabels", labelText(line.labels));
    const val = span("cval", "");
    sum.append(name, labels, val);
    const help = document.createElement("div");
    help.className = "chelp";
    const p = document.createElement("p");
    p.textContent = (card.spec.help || "No help text.") + (line.key ? "\n" + line.key : "");
    const pin = document.createElement("button");
    pin.type = "button";
    pin.className = "cpin";
    pin.textContent = "Show as a chart (pin it)";
    pin.addEventListener("click", () => this.onPin(card.spec.id));
    help.append(p, pin);
    det.append(sum, help);
    li.append(det);
    this.rows.push({ card, line, val });
    return li;
  }

  /** showValues writes each row's value. */
  showValues(client) {
    for (const r of this.rows) {
      const v = r.line.avg ? null : client.value(r.line.key);
      setText(r.val, r.line.avg ? "no observations" : text(v, r.card.unit, false));
      r.val.parentElement.parentElement.parentElement.dataset.value = String(v);
    }
  }
}

function span(cls, t) {
  const el = document.createElement("span");
  el.className = cls;
  el.textContent = t;
  return el;
}

function setText(el, t) {
  if (el.textContent !== t) el.textContent = t;
}
