// Margins sized for a figure's axis labels before plotly.js draws it. plotly.js finds the
// room its tick labels and axis titles need only after drawing them; when that is more
// than the figure's margins it draws the whole figure a second time (plotly.js issue
// 2704). Measuring the labels first (in the chart's own font, at the chart's width) and
// starting from margins that already hold them saves that second draw. It is only a
// starting point: the axes keep plotly's automargin, so a label this estimate misjudges
// still gets its room (at the cost of the redraw), and nothing is cut off.

const PAD = 12; // plotly.js adds this to every margin push
const LINE = 1.3; // plotly.js line spacing, in font sizes
const CAP = 0.7; // plotly.js cap height, in font sizes
const GAP = 4; // measured slack per side: SVG text boxes run a few px past canvas widths
const CARTESIAN = new Set(["scatter", "bar", "box", "heatmap"]);

let canvas;
function textWidth(text, font) {
  canvas = canvas || document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  ctx.font = font;
  return ctx.measureText(text.replace(/\s+/g, " ")).width; // SVG text collapses spaces
}

function axisOf(layout, name) {
  const template = ((layout.template && layout.template.layout) || {})[name] || {};
  const own = layout[name] || {};
  const title = (t) => (typeof t === "string" ? { text: t } : t || {});
  return { ...template, ...own, title: { ...title(template.title), ...title(own.title) } };
}

function fontOf(layout) {
  const template = (layout.template && layout.template.layout) || {};
  return { family: "sans-serif", size: 12, ...(template.font || {}), ...(layout.font || {}) };
}

// An axis's tick label size (px) and CSS font.
function tickFont(axis, font) {
  const tick = axis.tickfont || {};
  const size = tick.size || font.size;
  return { size, css: `${size}px ${tick.family || font.family}` };
}

// How far an axis title reaches past its tick labels, as plotly.js reckons it (px).
function titleDepth(axis, font) {
  const title = axis.title;
  // no title: no room; an empty one ("") takes its room all the same, as in plotly.js
  if (title.text === undefined) return 0;
  const size = (title.font && title.font.size) || font.size;
  // without a standoff, plotly.js places the title one font size past the labels
  return title.standoff === undefined ? 2 * size : size * CAP + title.standoff;
}

// ------------------------------------------------------------------ the values on an axis

function isDateString(v) {
  return typeof v === "string" && /^\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(v);
}

const TYPED = { f8: Float64Array, f4: Float32Array, i4: Int32Array, u4: Uint32Array,
  i2: Int16Array, u2: Uint16Array, i1: Int8Array, u1: Uint8Array, u1c: Uint8ClampedArray };

// A trace's array: a plain list, or plotly's typed-array encoding of a numpy array.
function arrayOf(value) {
  if (Array.isArray(value)) return value;
  if (value && typeof value.bdata === "string" && TYPED[value.dtype]) {
    const bytes = Uint8Array.from(atob(value.bdata), (c) => c.charCodeAt(0));
    return Array.from(new TYPED[value.dtype](bytes.buffer));
  }
  return [];
}

// For each visible trace, the values it puts on axis letter ("x" or "y"), and whether they
// are positions (categories) or magnitudes that may stack from zero.
function axisValues(data, letter) {
  const out = [];
  for (const trace of data) {
    if (trace.visible === false || trace.visible === "legendonly") continue;
    const type = trace.type || "scatter";
    const horizontal = trace.orientation === "h";
    const magnitude = type === "bar" && (letter === "y") !== horizontal;
    out.push({ trace, type, values: arrayOf(trace[letter]), magnitude });
  }
  return out;
}

function axisType(axis, series) {
  if (axis.type && axis.type !== "-") return axis.type;
  for (const s of series) {
    for (const v of s.values) {
      if (v === null || v === undefined) continue;
      if (typeof v === "number") return "linear";
      if (isDateString(v)) return "date";
      return Number.isFinite(Number(v)) && String(v).trim() !== "" ? "linear" : "category";
    }
  }
  return null;
}

function categories(axis, series) {
  if (axis.categoryorder === "array" && Array.isArray(axis.categoryarray)) {
    return axis.categoryarray.map(String);
  }
  const seen = new Set();
  for (const s of series) for (const v of s.values) if (v !== null && v !== undefined) seen.add(String(v));
  return [...seen];
}

// The smallest and largest value plotly.js's autorange takes into account on a linear axis.
function extremes(layout, data, letter, series) {
  let lo = Infinity;
  let hi = -Infinity;
  const take = (v) => {
    const n = Number(v);
    if (v === null || v === undefined || v === "" || !Number.isFinite(n)) return;
    lo = Math.min(lo, n);
    hi = Math.max(hi, n);
  };
  const stack = layout.barmode === "stack" || layout.barmode === "relative";
  const sums = new Map();
  for (const s of series) {
    const base = s.trace.base;
    const bases = arrayOf(base);
    const positions = arrayOf(s.trace.orientation === "h" ? s.trace.y : s.trace.x);
    s.values.forEach((v, i) => {
      if (s.magnitude) {
        const b = typeof base === "object" && base ? Number(bases[i]) || 0 : Number(base) || 0;
        if (stack) {
          const key = String(positions[i]);
          const [neg, pos] = sums.get(key) || [0, 0];
          const n = Number(v) || 0;
          sums.set(key, n < 0 ? [neg + n, pos] : [neg, pos + n]);
        } else {
          take(b);
          take(b + (Number(v) || 0));
        }
      } else {
        take(v);
      }
    });
    if (s.magnitude || s.trace.fill === `tozero${letter}`) take(0);
  }
  for (const [neg, pos] of sums.values()) {
    take(neg);
    take(pos);
  }
  const ref = letter === "x" ? "xref" : "yref";
  for (const shape of layout.shapes || []) {
    if (shape[ref] === letter) {
      take(shape[`${letter}0`]);
      take(shape[`${letter}1`]);
    }
  }
  for (const note of layout.annotations || []) if (note[ref] === letter) take(note[letter]);
  return Number.isFinite(lo) ? [lo, hi] : null;
}

// How many lines plotly.js's date labels take: one for month and year ticks ("May 2026"),
// two for day and time ticks ("Nov 2" over "2026").
function dateLines(series, length) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    for (const v of s.values) {
      const t = Date.parse(v);
      if (Number.isFinite(t)) {
        lo = Math.min(lo, t);
        hi = Math.max(hi, t);
      }
    }
  }
  const ticks = Math.min(Math.max(length / 80, 4), 9) + 1;
  const halfMonth = 15.2 * 86400e3;
  return hi > lo && (hi - lo) / ticks > halfMonth ? 1 : 2;
}

// ------------------------------------------------------------------ numeric tick labels

function niceStep(rough) {
  const base = Math.pow(10, Math.floor(Math.log10(rough)));
  const x = rough / base;
  return base * (x <= 2 ? 2 : x <= 5 ? 5 : 10);
}

const SI = { 3: "k", 6: "M", 9: "B", 12: "T" };

// A tick value as plotly.js labels it: its default number format, or the tickformat
// subset the figures use (".N%", ".Nf", ","); null for any other format.
function tickText(v, step, range, format) {
  if (format) {
    const m = /^(,)?(?:\.(\d+))?([%f])?$/.exec(format);
    if (!m) return null;
    const digits = m[2] === undefined ? (m[3] ? 6 : 0) : Number(m[2]);
    let text = m[3] === "%" ? `${(v * 100).toFixed(digits)}%` : v.toFixed(digits);
    if (m[1]) text = text.replace(/\B(?=(\d{3})+(?!\d))/, ",");
    return text.replace("-", "\u2212");
  }
  let round = 2 - Math.floor(Math.log10(step) + 0.01);
  const end = Math.max(Math.abs(range[0]), Math.abs(range[1]));
  const rangeExp = Math.floor(Math.log10(end) + 0.01);
  let exponent = 0;
  if (Math.abs(rangeExp) > 3) exponent = rangeExp > 0 && rangeExp < 15 ? 3 * Math.round((rangeExp - 1) / 3) : rangeExp;
  let a = Math.abs(v);
  if (a < Math.pow(10, -round) / 2) return "0";
  if (exponent) {
    a *= Math.pow(10, -exponent);
    round += exponent;
  }
  let text = round <= 0 ? String(Math.round(a)) : a.toFixed(Math.min(20, round)).replace(/\.?0+$/, "");
  if (exponent) text += SI[exponent] || `e${exponent}`;
  return (v < 0 ? "\u2212" : "") + text;
}

// Every label plotly.js may put on a linear axis of this length: ticks for the data's span
// and for a span padded as autorange pads it, since either step may be the one it takes.
function linearLabels(axis, bounds, length, letter) {
  const spans = Array.isArray(axis.range) && axis.range.length === 2
    ? [axis.range.map(Number)]
    : [bounds, [bounds[0] - 0.1 * (bounds[1] - bounds[0] || 1), bounds[1] + 0.1 * (bounds[1] - bounds[0] || 1)]];
  const nt = axis.nticks || Math.min(Math.max(length / (letter === "y" ? 40 : 80), 4), 9) + 1;
  const labels = [];
  let spacing = Infinity;
  for (const [lo, hi] of spans) {
    if (!(hi > lo)) return null;
    const step = niceStep((hi - lo) / nt);
    spacing = Math.min(spacing, (step * length) / (hi - lo));
    for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + 1e-9 * step && labels.length < 400; k++) {
      const text = tickText(k * step, step, [lo, hi], axis.tickformat);
      if (text === null) return null;
      labels.push(`${axis.tickprefix || ""}${text}${axis.ticksuffix || ""}`);
    }
  }
  return { labels, spacing, uniform: true };
}

// The labels plotly.js may draw on one axis, with their spacing along it (px); null when
// this estimate does not cover the axis (dates, logs, other formats, several axes).
function axisLabels(layout, data, letter, length) {
  const axis = axisOf(layout, `${letter}axis`);
  if (axis.visible === false || axis.showticklabels === false) return { labels: [], spacing: Infinity };
  if (axis.tickmode === "array" || axis.tickvals) {
    const text = (axis.ticktext || axis.tickvals || []).map(String);
    return { labels: text, spacing: length / Math.max(text.length, 1) };
  }
  const series = axisValues(data, letter);
  const type = axisType(axis, series);
  if (type === "category") {
    const cats = categories(axis, series);
    const { size } = tickFont(axis, fontOf(layout));
    const step = Math.ceil(Math.max(cats.length / (length / Math.round(1.2 * size)), 1));
    return { labels: cats.filter((_, i) => i % step === 0), spacing: (step * length) / Math.max(cats.length, 1) };
  }
  if (type === "date") return { labels: null, spacing: Infinity, lines: dateLines(series, length) };
  if (type !== "linear") return null;
  const bounds = extremes(layout, data, letter, series);
  if (!bounds) return { labels: [], spacing: Infinity };
  return linearLabels(axis, bounds, length, letter);
}

// ------------------------------------------------------------------ the margins

// How wide the vertical legend or the colour bar at the plot's right is, roughly (px): it
// narrows the axis, and with it the room between the x labels.
function sideWidth(layout, data, font) {
  const css = `${font.size}px ${font.family}`;
  let widest = 0;
  const shown = data.filter((t) => t.visible !== false && t.showlegend !== false);
  const legend = layout.legend || {};
  if ((layout.showlegend === true || (layout.showlegend !== false && shown.length > 1)) &&
      legend.orientation !== "h" && (legend.x === undefined || legend.x >= 1)) {
    widest = Math.max(0, ...shown.map((t) => textWidth(String(t.name || ""), css) + 50));
  }
  for (const t of data) {
    if (t.type === "heatmap" && t.showscale !== false) {
      const bar = t.colorbar || {};
      const ticks = (bar.ticktext || ["0.00"]).map((v) => textWidth(String(v), css));
      const title = bar.title && bar.title.text ? textWidth(bar.title.text, css) : 0;
      widest = Math.max(widest, 30 + 20 + Math.max(...ticks, title));
    }
  }
  return widest;
}

// The depth (b, px, without the title) and right margin (r) of an x axis's labels, turned
// as plotly.js turns them when they do not fit level.
function slanted(x, xaxis, font, r) {
  const { size, css } = tickFont(xaxis, font);
  const widths = x.labels.map((t) => textWidth(t, css));
  const widest = Math.max(...widths);
  let angle = typeof xaxis.tickangle === "number" ? Math.abs(xaxis.tickangle) : 0;
  if (typeof xaxis.tickangle !== "number") {
    // adjacent labels collide (plotly.js keeps a 2 px gap); numeric ticks: the widest two
    const overlap = x.uniform ? widest + 2 > x.spacing
      : widths.some((w, i) => i && (w + widths[i - 1]) / 2 + 2 > x.spacing);
    if (overlap) {
      const maxCos = x.spacing / Math.hypot(x.spacing, size * 1.25);
      const angles = xaxis.autotickangles || [0, 30, 90];
      const fit = angles.find((a) => Math.abs(Math.cos((a * Math.PI) / 180)) <= maxCos);
      angle = Math.abs(fit === undefined ? angles[angles.length - 1] : fit);
    }
  }
  const rad = (angle * Math.PI) / 180;
  const tall = size * LINE;
  const b = (angle ? widest * Math.sin(rad) + tall * Math.max(Math.cos(rad), 0.6) : tall) + GAP;
  if (!angle || angle >= 90 || (xaxis.tickangle !== undefined && xaxis.tickangle < 0)) {
    return { angle, b, r };
  }
  // a label turned clockwise runs past the end of the axis
  const last = widths[widths.length - 1] * Math.cos(rad) + (tall * Math.sin(rad)) / 2 -
    x.spacing / 2;
  return { angle, b, r: Math.max(r, last + GAP + PAD) };
}

/**
 * Margins ({l, r, t, b}) that hold the figure's axis labels and titles at this width, or
 * null when the figure is not one this estimate covers (it is then drawn as it is).
 */
export function fitMargins(figure, width) {
  const layout = figure.layout || {};
  const data = figure.data || [];
  if (!data.length || !data.every((t) => CARTESIAN.has(t.type || "scatter"))) return null;
  if (Object.keys(layout).some((k) => /^[xy]axis\d+$/.test(k)) || layout.grid) return null;
  if (layout.margin && layout.margin.autoexpand === false) return null;
  const xaxis = axisOf(layout, "xaxis");
  const yaxis = axisOf(layout, "yaxis");
  if (!xaxis.automargin || !yaxis.automargin || (xaxis.side || "bottom") !== "bottom" ||
      (yaxis.side || "left") !== "left") return null;
  const given = { l: 80, r: 80, t: 100, b: 80, ...(layout.margin || {}) };
  const margins = { l: given.l, r: given.r, t: given.t, b: given.b };
  const font = fontOf(layout);
  const height = layout.height || 450;

  // the y labels set the x axis's length, the x labels the y axis's: twice over, since
  // plotly.js thins the labels to the room they have
  const fitY = () => {
    const y = axisLabels(layout, data, "y", height - margins.t - margins.b);
    if (y) {
      const { css } = tickFont(yaxis, font);
      const widest = Math.max(0, ...y.labels.map((t) => textWidth(t, css)));
      let need = widest ? widest + 2 + GAP : 0;
      need += titleDepth(yaxis, font);
      margins.l = Math.max(given.l, Math.ceil(need + PAD));
    }
  };
  const fitX = () => {
    // the plot's width: less the legend or colour bar plotly.js sets beside it
    const beside = Math.max(given.r, sideWidth(layout, data, font));
    let x = axisLabels(layout, data, "x", width - margins.l - beside);
    if (x && x.lines) {
      // plotly.js spaces date ticks so that their labels stay level
      const { size } = tickFont(xaxis, font);
      const need = x.lines * size * LINE + GAP + titleDepth(xaxis, font);
      margins.b = Math.max(given.b, Math.ceil(need + PAD));
    } else if (x && x.labels.length) {
      let fit = slanted(x, xaxis, font, beside);
      if (fit.r > beside) {
        // the room a slanted last label takes narrows the axis: its labels may turn further
        x = axisLabels(layout, data, "x", width - margins.l - fit.r);
        const again = x && x.labels.length ? slanted(x, xaxis, font, fit.r) : null;
        if (again) fit = { ...again, r: Math.max(again.r, fit.r) };
      }
      margins.b = Math.max(given.b, Math.ceil(fit.b + titleDepth(xaxis, font) + PAD));
      if (fit.r > beside) margins.r = Math.max(given.r, Math.ceil(fit.r));
    }
  };
  for (let pass = 0; pass < 2; pass++) {
    fitY();
    fitX();
  }
  return margins;
}
