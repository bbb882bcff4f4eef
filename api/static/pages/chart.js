// Charts for query answers, drawn as inline SVG with no library.
//
// A query answer is {columns, rows}. The columns are sorted into time buckets (minute, hour,
// day, week, month), measures (numeric columns) and labels (the rest). Time buckets give a
// line chart with one line per label combination; a retention answer gives one line per
// cohort over the periods; anything else with a measure gives horizontal bars.

const SVG = "http://www.w3.org/2000/svg";
const BUCKETS = ["minute", "hour", "day", "week", "month"];
// Numeric columns that number things rather than measure them.
const ORDINALS = new Set(["step", "period"]);
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;
export const PALETTE = [
  "#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563",
];
const MAX_SERIES = PALETTE.length;
const MAX_BARS = 30;

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

export function formatNumber(value) {
  return numberFormat.format(value);
}

function present(rows, name) {
  return rows.map((row) => row[name]).filter((value) => value !== null && value !== undefined);
}

/** The columns of an answer sorted by kind: {buckets, times, measures, ordinals, labels}. */
export function describe(columns, rows) {
  const kinds = { buckets: [], times: [], measures: [], ordinals: [], labels: [] };
  for (const name of columns) {
    const values = present(rows, name);
    if (values.length > 0 && values.every((v) => typeof v === "number" && Number.isFinite(v))) {
      (ORDINALS.has(name) ? kinds.ordinals : kinds.measures).push(name);
    } else if (values.length > 0 && values.every((v) => typeof v === "string" && ISO_TIME.test(v))) {
      (BUCKETS.includes(name) ? kinds.buckets : kinds.times).push(name);
    } else {
      kinds.labels.push(name);
    }
  }
  return kinds;
}

/** The measures a person can chart, best first. */
export function measures(columns, rows) {
  const kinds = describe(columns, rows);
  if (columns.includes("cohort") && columns.includes("period") && kinds.measures.includes("pct")) {
    return ["pct", ...kinds.measures.filter((m) => m !== "pct")];
  }
  return kinds.measures.length > 0 ? kinds.measures : kinds.ordinals;
}

/** Milliseconds since the epoch of an ISO time; a time without an offset is UTC. */
export function parseTime(text) {
  const hasOffset = /(Z|[+-]\d{2}:?\d{2})$/.test(text);
  const hasTime = text.length > 10;
  return Date.parse(hasOffset ? text : hasTime ? `${text}Z` : `${text}T00:00:00Z`);
}

function labelText(value) {
  if (value === null || value === undefined) {
    return "null";
  }
  const text = String(value);
  // A day, week or month bucket reads as its date.
  return /^\d{4}-\d{2}-\d{2}T00:00(:00(\.0+)?)?(Z|[+-]00:?00)?$/.test(text) ? text.slice(0, 10) : text;
}

function labelOf(row, names) {
  return names.map((name) => labelText(row[name])).join(" · ");
}

/** What to draw for an answer: {kind: "line"|"bar", ...} or {kind: "none", reason}. */
export function plan(columns, rows, measure) {
  if (rows.length === 0) {
    return { kind: "none", reason: "No rows to chart." };
  }
  const kinds = describe(columns, rows);
  const options = measures(columns, rows);
  if (options.length === 0) {
    return { kind: "none", reason: "No chart: the answer has no numeric column." };
  }
  const y = options.includes(measure) ? measure : options[0];
  if (columns.includes("cohort") && columns.includes("period")) {
    return { kind: "line", x: "period", xIsTime: false, series: ["cohort"], y };
  }
  if (kinds.buckets.length > 0) {
    const x = kinds.buckets[0];
    const series = [...kinds.buckets.slice(1), ...kinds.labels];
    return { kind: "line", x, xIsTime: true, bucket: x, series, y };
  }
  const labels = kinds.labels.length > 0 ? kinds.labels : [...kinds.times, ...kinds.ordinals];
  if (labels.length === 0 && rows.length === 1) {
    // One row of figures (e.g. "count, avg(duration_s)"): one bar per measure.
    const row = rows[0];
    const bars = options.map((name) => ({ label: name, value: row[name] }));
    return { kind: "bar", y: null, bars: bars.filter((b) => typeof b.value === "number") };
  }
  const preferred = columns.includes("step_name") ? ["step_name"] : labels;
  const bars = rows
    .filter((row) => typeof row[y] === "number")
    .map((row, i) => ({ label: preferred.length ? labelOf(row, preferred) : `#${i + 1}`, value: row[y] }));
  return { kind: "bar", y, bars };
}

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  if (text !== null) {
    node.textContent = text;
  }
  return node;
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

function yAxis(min, max) {
  const low = Math.min(0, min);
  const high = max > low ? max : low + 1;
  const step = niceStep(high - low, 4);
  const top = Math.ceil(high / step) * step;
  const bottom = Math.floor(low / step) * step;
  const ticks = [];
  for (let v = bottom; v <= top + step / 2; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return { low: bottom, high: top, ticks };
}

function timeLabel(ms, bucket) {
  const iso = new Date(ms).toISOString();
  if (bucket === "minute" || bucket === "hour") {
    return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  }
  if (bucket === "month") {
    return iso.slice(0, 7);
  }
  return iso.slice(0, 10);
}

function lineChart(figure, rows, chart) {
  const width = 860;
  const height = 320;
  const margin = { top: 16, right: 56, bottom: 40, left: 64 };
  const innerW = width - margin.left - margin.right;
  const innerH = height - margin.top - margin.bottom;

  const groups = new Map();
  for (const row of rows) {
    const xValue = chart.xIsTime ? parseTime(row[chart.x]) : Number(row[chart.x]);
    const yValue = row[chart.y];
    if (!Number.isFinite(xValue) || typeof yValue !== "number") {
      continue;
    }
    const key = chart.series.length ? labelOf(row, chart.series) : chart.y;
    if (!groups.has(key)) {
      groups.set(key, []);
    }
    groups.get(key).push([xValue, yValue]);
  }
  let series = [...groups.entries()].map(([name, points]) => ({
    name,
    points: points.sort((a, b) => a[0] - b[0]),
    total: points.reduce((sum, p) => sum + p[1], 0),
  }));
  const hidden = Math.max(0, series.length - MAX_SERIES);
  if (hidden > 0) {
    series = [...series].sort((a, b) => b.total - a.total).slice(0, MAX_SERIES);
  }
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (xMin === xMax) {
    const pad = chart.xIsTime ? 3600_000 : 1;
    xMin -= pad;
    xMax += pad;
  }
  const axis = yAxis(Math.min(...ys), Math.max(...ys));
  const sx = (x) => margin.left + ((x - xMin) / (xMax - xMin)) * innerW;
  const sy = (y) => margin.top + innerH - ((y - axis.low) / (axis.high - axis.low)) * innerH;

  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `Line chart of ${chart.y} by ${chart.x}`,
    "data-kind": "line",
  });
  const grid = el("g", { class: "grid" });
  for (const tick of axis.ticks) {
    const y = sy(tick);
    grid.append(el("line", { x1: margin.left, x2: width - margin.right, y1: y, y2: y }));
    grid.append(el("text", { x: margin.left - 8, y: y + 4, "text-anchor": "end" }, formatNumber(tick)));
  }
  svg.append(grid);

  const xTicks = el("g", { class: "axis" });
  const distinct = [...new Set(xs)].sort((a, b) => a - b);
  const every = Math.max(1, Math.ceil(distinct.length / 7));
  distinct.forEach((x, i) => {
    if (i % every !== 0) {
      return;
    }
    const label = chart.xIsTime ? timeLabel(x, chart.bucket) : String(x);
    xTicks.append(el("text", { x: sx(x), y: height - margin.bottom + 18, "text-anchor": "middle" }, label));
  });
  xTicks.append(
    el("text", { x: margin.left + innerW / 2, y: height - 4, "text-anchor": "middle", class: "axis-title" }, chart.x),
  );
  svg.append(xTicks);

  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const group = el("g", { class: "series", "data-series": s.name });
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    group.append(el("path", { d, fill: "none", stroke: color, "stroke-width": 2 }));
    for (const [x, y] of s.points) {
      const dot = el("circle", { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 3, fill: color });
      const when = chart.xIsTime ? timeLabel(x, chart.bucket) : `${chart.x} ${x}`;
      dot.append(el("title", {}, `${s.name}: ${formatNumber(y)} (${when})`));
      group.append(dot);
    }
    svg.append(group);
  });
  figure.append(svg);

  const legend = document.createElement("figcaption");
  legend.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    const swatch = el("svg", { width: 12, height: 12, "aria-hidden": "true" });
    swatch.append(el("rect", { width: 12, height: 12, rx: 2, fill: PALETTE[i % PALETTE.length] }));
    item.append(swatch, document.createTextNode(` ${s.name}`));
    legend.append(item);
  });
  if (hidden > 0) {
    const more = document.createElement("span");
    more.className = "muted";
    more.textContent = `${hidden} more series not drawn (the ${MAX_SERIES} largest are)`;
    legend.append(more);
  }
  figure.append(legend);
}

function truncate(text, length) {
  const chars = Array.from(text);
  return chars.length > length ? `${chars.slice(0, length - 1).join("")}…` : text;
}

function barChart(figure, chart) {
  const bars = chart.bars.slice(0, MAX_BARS);
  const width = 860;
  const rowH = 24;
  const longest = Math.max(...bars.map((b) => Math.min(32, Array.from(b.label).length)));
  const margin = { top: 8, right: 90, bottom: 8, left: Math.min(260, 16 + longest * 7.2) };
  const height = margin.top + margin.bottom + bars.length * rowH;
  const innerW = width - margin.left - margin.right;
  const values = bars.map((b) => b.value);
  const low = Math.min(0, ...values);
  const high = Math.max(0, ...values) || 1;
  const sx = (v) => margin.left + ((v - low) / (high - low)) * innerW;

  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": chart.y ? `Bar chart of ${chart.y}` : "Bar chart",
    "data-kind": "bar",
  });
  bars.forEach((bar, i) => {
    const y = margin.top + i * rowH;
    const x0 = sx(Math.min(0, bar.value));
    const x1 = sx(Math.max(0, bar.value));
    const group = el("g", { class: "bar" });
    group.append(
      el("text", { x: margin.left - 8, y: y + rowH / 2 + 4, "text-anchor": "end" }, truncate(bar.label, 32)),
    );
    const rect = el("rect", {
      x: x0.toFixed(1),
      y: y + 3,
      width: Math.max(1, x1 - x0).toFixed(1),
      height: rowH - 6,
      rx: 2,
      fill: PALETTE[0],
    });
    rect.append(el("title", {}, `${bar.label}: ${formatNumber(bar.value)}`));
    group.append(rect);
    group.append(el("text", { x: x1 + 6, y: y + rowH / 2 + 4, class: "value" }, formatNumber(bar.value)));
    svg.append(group);
  });
  figure.append(svg);
  if (chart.bars.length > MAX_BARS) {
    const note = document.createElement("figcaption");
    note.className = "muted";
    note.textContent = `The first ${MAX_BARS} of ${chart.bars.length} rows are drawn.`;
    figure.append(note);
  }
}

/** Draw the chart for an answer into ``figure`` (emptied first); returns the plan used. */
export function render(figure, columns, rows, measure) {
  figure.replaceChildren();
  const chart = plan(columns, rows, measure);
  if (chart.kind === "line") {
    lineChart(figure, rows, chart);
  } else if (chart.kind === "bar" && chart.bars.length > 0) {
    barChart(figure, chart);
  } else {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = chart.reason || "Nothing to chart.";
    figure.append(note);
  }
  return chart;
}
