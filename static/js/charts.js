// The panel's charts: uPlot (static/vendor/uplot) with one look and one set of defaults, so the
// pages that chart (node.js, linkbench.js) say only what they plot. Drag across a chart to
// zoom in, double-click to zoom out; the legend under it shows the values under the cursor.
"use strict";
const Charts = (() => {
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const PALETTE = ["--accent", "--ok", "--warn", "--bad"];
  const EXTRA = ["#a371f7", "#39c5cf", "#db61a2", "#e3b341"];
  const HEIGHT = 220;

  // The n-th colour of the panel's palette: its own variables first, then a few more.
  const color = (n) => (n < PALETTE.length ? css(PALETTE[n]) : EXTRA[(n - PALETTE.length) % EXTRA.length]);

  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
  function bytes(n) {
    if (n === null || n === undefined) return "—";
    let i = 0;
    while (Math.abs(n) >= 1024 && i < UNITS.length - 1) { n /= 1024; i += 1; }
    return `${+n.toPrecision(3)} ${UNITS[i]}`;
  }
  const rate = (n) => (n === null || n === undefined ? "—" : `${bytes(n)}/s`);

  // Sides as uPlot numbers them: 1 right, 2 bottom, 3 left. Only the x axis and the left one
  // draw grid lines. `format` labels the ticks (uPlot's own time labels when it is absent).
  function axis(scale, side, format) {
    const line = css("--line");
    const a = { scale, side, stroke: css("--muted"), size: side === 2 ? 50 : 84,
      grid: { show: side !== 1, stroke: line, width: 0.5 }, ticks: { stroke: line, width: 0.5 } };
    if (format) a.values = (u, splits) => splits.map((v) => (v === null ? "" : format(v)));
    return a;
  }

  // [[x, y], ...] per series -> uPlot's columns: the x values of all of them, in order, and each
  // series' y at those x (null where it has none, drawn as a gap).
  function align(pointLists) {
    const xs = [...new Set(pointLists.flatMap((points) => points.map(([x]) => x)))].sort((a, b) => a - b);
    return [xs, ...pointLists.map((points) => {
      const at = new Map(points);
      return xs.map((x) => (at.has(x) ? at.get(x) : null));
    })];
  }

  // The chart drawn in each box, so that a new one (or none) there frees the old one.
  const drawn = new WeakMap();
  function release(box) {
    const old = drawn.get(box);
    if (!old) return;
    old.resizing.disconnect();
    old.plot.destroy();
    drawn.delete(box);
  }

  // A chart of `data` (uPlot's columns, see align) in `box`, legend and all. `series`: [{ label,
  // scale, format, color, dash, points }]; `scales`: uPlot scales besides x; `axes`: [{ scale,
  // format, side }]; `x`: "time" (seconds since the epoch) or { label, format } for a log x
  // axis. Returns { plot, update(data) }; an update keeps the zoom a person chose.
  function chart(box, { label, series, scales = {}, axes, x = "time" }, data) {
    const timeX = x === "time";
    const opts = {
      width: Math.max(box.clientWidth, 280),
      height: HEIGHT,
      // One reading alone still gets a minute either side, not a span of years.
      scales: { x: timeX ? { time: true, range: (u, min, max) => (u.data[0].length === 1 ? [min - 60, min + 60] : [min, max]) }
        : { time: false, distr: 3, log: 10 }, ...scales },
      series: [
        timeX ? {} : { label: x.label, value: (u, v) => (v === null ? "—" : x.format(v)) },
        ...series.map((s, i) => ({
          label: s.label, scale: s.scale, stroke: s.color || color(i), width: 2, dash: s.dash,
          // Dots where asked for, else uPlot's own choice: only while the points are few.
          ...(s.points === undefined ? {} : { points: { show: s.points, size: 6 } }),
          value: (u, v) => (v === null || v === undefined ? "—" : s.format(v)),
        })),
      ],
      axes: [axis("x", 2, timeX ? null : x.format), ...axes.map((a) => axis(a.scale, a.side ?? 3, a.format))],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
    };
    const figure = Live.el("figure", { class: "chart", "aria-label": label });
    release(box);
    box.replaceChildren(figure);
    const plot = new uPlot(opts, data, figure);
    figure.dataset.points = String(data[0].length);
    const resizing = new ResizeObserver(() => plot.setSize({ width: Math.max(box.clientWidth, 280), height: HEIGHT }));
    resizing.observe(box);
    drawn.set(box, { plot, resizing });
    function update(next) {
      const xs = plot.data[0];
      const zoomed = xs.length > 0 && (plot.scales.x.min > xs[0] || plot.scales.x.max < xs[xs.length - 1]);
      plot.setData(next, !zoomed);
      figure.dataset.points = String(next[0].length);
    }
    return { plot, update };
  }

  return { chart, release, align, color, bytes, rate };
})();
