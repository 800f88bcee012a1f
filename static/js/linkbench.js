// Link benchmark: start the all_sum probe and follow its job live; the latest result
// as latency and bandwidth charts (log scales) against the guide's RDMA and TCP figures; history.
"use strict";
(() => {
  const { el, api } = Live;
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

  // A log-log chart: message size along x, `field` of each point (times `scale`) up y, the
  // measured run with its dots against the guide's curves (dashed).
  function logChart({ label, field, scale, format, tick }, result) {
    const box = el("div", { class: "chart-box" });
    const guides = Object.entries(result.expected);
    const lists = [result.points, ...guides.map(([, points]) => points)]
      .map((points) => points.filter((p) => p.bytes > 0 && p[field] > 0).map((p) => [p.bytes, p[field] * scale]));
    const series = [
      { label: `measured (${result.backend})`, scale: "y", format, points: true },
      ...guides.map(([link], i) => ({ label: `guide: ${data.expectations[link].label}`, scale: "y", format,
        color: Charts.color(link === "rdma" ? 1 : link === "tcp" ? 2 : 3 + i), dash: [6, 4], points: false })),
    ];
    // Drawn once the box is in the page: the chart takes the box's width.
    requestAnimationFrame(() => Charts.chart(box, {
      label, series, x: { label: "message size", format: size },
      scales: { y: { distr: 3, log: 10 } }, axes: [{ scale: "y", format: tick }],
    }, Charts.align(lists)));
    return el("figure", { class: "plot-box", "data-chart": field }, el("figcaption", {}, label), box);
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
    return [
      logChart({ label: "Latency: time per all_sum", field: "seconds", scale: 1e6, format: micros, tick: timeTick }, result),
      logChart({ label: "Bandwidth: bytes reduced per second", field: "gbps", scale: 1, format: gbps, tick: rateTick }, result),
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
