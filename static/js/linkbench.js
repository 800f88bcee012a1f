// Link benchmark: start the all_sum probe and follow its job live; the latest result
// as latency and bandwidth plots (log scales) against the guide's RDMA and TCP figures; history.
"use strict";
(() => {
  const { el, api } = Live;
  const NS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("linkbench-data").textContent);
  const form = document.getElementById("linkbench-form");
  const startButton = document.getElementById("linkbench-start");
  const jobBox = document.getElementById("linkbench-job");
  const errorBox = document.getElementById("linkbench-error");
  const VERDICT = { meets: "meets the guide", near: "near the guide", misses: "misses the guide", unknown: "not measured" };
  let following = null;

  const showError = (text) => { errorBox.textContent = text; errorBox.hidden = !text; };

  function size(bytes) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return `${+bytes.toPrecision(3)} ${units[i]}`;
  }
  const micros = (us) => (us >= 1000 ? `${+(us / 1000).toPrecision(3)} ms` : `${+us.toPrecision(3)} µs`);
  const gbps = (g) => `${+g.toPrecision(3)} Gb/s`;
  const decade = (value, unit) => `${value >= 1 ? value : +value.toPrecision(1)}${unit}`;
  function timeTick(us) {
    if (us >= 1e6) return decade(us / 1e6, " s");
    return us >= 1000 ? decade(us / 1000, " ms") : decade(us, " µs");
  }
  const rateTick = (g) => (g < 0.001 ? g.toExponential(0) : decade(g, ""));

  function node(tag, attrs = {}, text) {
    const n = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs)) n.setAttribute(key, value);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // A log-log plot: whole decades up the y axis, the measured sizes along x. Each series is
  // { name, cls, points: [[x, y, title]], dots }.
  function logPlot({ label, yLabel, yTick, series }) {
    const W = 520, H = 280, L = 62, R = 12, T = 12, B = 42;
    const all = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
    const lx = all.map(([x]) => Math.log10(x)), ly = all.map(([, y]) => Math.log10(y));
    const x0 = Math.min(...lx), x1 = Math.max(...lx, x0 + 1);
    const y0 = Math.floor(Math.min(...ly)), y1 = Math.max(Math.ceil(Math.max(...ly)), y0 + 1);
    const px = (x) => L + ((Math.log10(x) - x0) / (x1 - x0)) * (W - L - R);
    const py = (y) => H - B - ((Math.log10(y) - y0) / (y1 - y0)) * (H - T - B);
    const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": label });
    for (let d = y0; d <= y1; d += 1) {
      const y = py(10 ** d);
      svg.append(node("line", { class: "grid", x1: L, x2: W - R, y1: y, y2: y }),
        node("text", { class: "tick", x: L - 6, y: y + 4, "text-anchor": "end" }, yTick(10 ** d)));
    }
    const sizes = [...new Set(series[0].points.map(([x]) => x))];
    const every = sizes.length > 7 ? 2 : 1;
    sizes.forEach((x, i) => {
      svg.append(node("line", { class: "grid", x1: px(x), x2: px(x), y1: T, y2: H - B }));
      if (i % every === 0) svg.append(node("text", { class: "tick", x: px(x), y: H - B + 16, "text-anchor": "middle" }, size(x)));
    });
    svg.append(node("text", { class: "axis", x: L + (W - L - R) / 2, y: H - 6, "text-anchor": "middle" }, "message size"),
      node("text", { class: "axis", x: 12, y: T + (H - T - B) / 2, "text-anchor": "middle",
        transform: `rotate(-90 12 ${T + (H - T - B) / 2})` }, yLabel));
    for (const s of series) {
      const shown = s.points.filter(([x, y]) => x > 0 && y > 0);
      const g = node("g", { class: `series ${s.cls}`, "data-series": s.cls });
      g.append(node("polyline", { points: shown.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ") }));
      if (s.dots) {
        for (const [x, y, title] of shown) {
          const dot = node("circle", { cx: px(x).toFixed(1), cy: py(y).toFixed(1), r: 3 });
          dot.append(node("title", {}, title));
          g.append(dot);
        }
      }
      svg.append(g);
    }
    const legend = el("ul", { class: "legend small" }, ...series.map((s) => el("li", { class: s.cls }, el("i"), s.name)));
    return el("figure", { class: "plot-box" }, el("figcaption", {}, label), svg, legend);
  }

  function verdict(v) {
    return el("span", { class: `badge verdict-${v}` }, VERDICT[v] || v);
  }

  function summary(result) {
    const c = result.comparison;
    const hosts = [...new Set(result.hosts)];
    const facts = el("p", { class: "muted" }, `${result.backend} · ${result.ranks} ranks on ${result.hosts.join(", ") || "?"} · `,
      new Date(result.created_at).toLocaleString(), " · ", el("a", { href: Live.url("job", { job_id: result.job }) }, `job #${result.job}`));
    const about = c.latency.bound === "under" ? "under" : "about";
    const grid = el("div", { class: "summary" },
      el("div", { class: "stat" }, el("span", { class: "label" }, "Latency (smallest message)"),
        el("span", { class: "value", id: "linkbench-latency" }, micros(result.latency_us)),
        el("span", { class: "small muted" }, `guide, ${c.label}: ${about} ${micros(c.latency.expected_us)} `), verdict(c.latency.verdict)),
      el("div", { class: "stat" }, el("span", { class: "label" }, "Bandwidth (best, 1 MiB and up)"),
        el("span", { class: "value", id: "linkbench-bandwidth" }, gbps(result.bandwidth_gbps)),
        el("span", { class: "small muted" }, `guide, ${c.label}: ${gbps(c.bandwidth.expected_gbps)} `), verdict(c.bandwidth.verdict)));
    const parts = [facts, grid];
    if (hosts.length === 1 && result.ranks > 1) {
      parts.push(el("p", { class: "warning small" }, `Every rank ran on ${hosts[0]}: this measures the machine's loopback, not a link between nodes.`));
    }
    return parts;
  }

  function plots(result) {
    const curve = (points, field, scale) => points.map((p) => [p.bytes, p[field] * scale, ""]);
    const measured = (field, scale) => ({
      name: `measured (${result.backend})`, cls: "measured", dots: true,
      points: result.points.map((p) => [p.bytes, p[field] * scale, `${size(p.bytes)}: ${micros(p.seconds * 1e6)}, ${gbps(p.gbps)}`]),
    });
    const guide = (field, scale) => Object.entries(result.expected).map(([link, points]) => ({
      name: `guide: ${data.expectations[link].label}`, cls: `expect-${link}`, dots: false, points: curve(points, field, scale),
    }));
    return [
      logPlot({ label: "Latency: time per all_sum", yLabel: "time", yTick: timeTick,
        series: [measured("seconds", 1e6), ...guide("seconds", 1e6)] }),
      logPlot({ label: "Bandwidth: bytes reduced per second", yLabel: "Gb/s", yTick: rateTick,
        series: [measured("gbps", 1), ...guide("gbps", 1)] }),
    ];
  }

  function historyRow(r) {
    const figure = (text, v) => el("td", {}, text, " ", verdict(v));
    return el("tr", { "data-benchmark": String(r.id) },
      el("td", {}, new Date(r.created_at).toLocaleString()), el("td", {}, r.backend), el("td", {}, String(r.ranks)),
      el("td", { class: "small" }, r.hosts.join(", ")),
      figure(r.latency_us === null ? "—" : micros(r.latency_us), r.comparison.latency.verdict),
      figure(r.bandwidth_gbps === null ? "—" : gbps(r.bandwidth_gbps), r.comparison.bandwidth.verdict),
      el("td", {}, r.job ? el("a", { href: Live.url("job", { job_id: r.job }) }, `#${r.job}`) : "—"));
  }

  function render(results) {
    const latest = results[0];
    document.getElementById("linkbench-empty").hidden = Boolean(latest);
    document.getElementById("linkbench-summary").replaceChildren(...(latest ? summary(latest) : []));
    document.getElementById("linkbench-plots").replaceChildren(...(latest ? plots(latest) : []));
    document.querySelector("#linkbench-history tbody").replaceChildren(...results.map(historyRow));
    document.getElementById("linkbench-history-empty").hidden = results.length > 0;
  }

  const reload = () => api("GET", Live.url("api-linkbench")).then(render).catch((e) => showError(e.message));

  function follow(job) {
    following?.close();
    startButton.disabled = true;
    following = Live.followJob(job, jobBox, (ended) => {
      following = null;
      startButton.disabled = false;
      if (ended.state === "failed") showError(`The benchmark failed: ${ended.error}`);
      reload();
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const fields = new FormData(form);
    try {
      follow(await api("POST", Live.url("api-linkbench"), { backend: fields.get("backend"), quick: fields.get("quick") === "on" }));
    } catch (e) {
      showError(e.message);
      startButton.disabled = false;
    }
  });

  render(data.results);
  if (data.running_job) follow(data.running_job);
})();
