// Node page: the node's card, live from the cluster socket, each GPU of a node that reads its own
// (GAMMA), and the guide's performance monitoring as charts over the last hour (10 s peaks) or
// day (5 min peaks): memory pressure and swap (`memory_pressure`), GPU use, temperature and
// power (`powermetrics`), and bytes/s per network interface (`nettop`), live between polls.
"use strict";
(() => {
  const { el } = Live;
  const name = document.getElementById("node-page").dataset.node;
  const card = document.getElementById("node-card");
  const gpuRows = document.querySelector("#gpu-table tbody");
  const MIB = 1024 ** 2;
  const mib = (n) => (n === null || n === undefined ? "—" : `${Math.round(n / MIB)} MiB`);
  const unit = (n, suffix) => (n === null || n === undefined ? "—" : `${n}${suffix}`);

  // As nvidia-smi shows a GPU: "0 MiB / 143771 MiB", "95.93 W / 700 W".
  function gpuRow(gpu) {
    const processes = (gpu.processes || []).map((p) => `${p.pid} ${p.name || "?"} (${mib(p.memory_used)})`);
    return el("tr", { "data-gpu": String(gpu.index) },
      el("td", {}, `${gpu.index}: ${gpu.name || "GPU"}`),
      el("td", {}, gpu.memory_total === null ? "not reported" : `${mib(gpu.memory_used)} / ${mib(gpu.memory_total)}`),
      el("td", {}, unit(gpu.utilization, "%")),
      el("td", {}, unit(gpu.temperature, " °C")),
      el("td", {}, `${unit(gpu.power_draw, " W")} / ${unit(gpu.power_limit, " W")}`),
      el("td", { class: "small" }, processes.join(", ") || "none"));
  }

  function gpus(gpu) {
    if (!gpuRows || !gpu) return;
    const empty = !gpu.read ? "Waiting for the first GPU reading…" : `GPU not available: ${gpu.reason}`;
    gpuRows.replaceChildren(...(gpu.available && gpu.gpus.length ? gpu.gpus.map(gpuRow)
      : [el("tr", {}, el("td", { colspan: "6", class: "empty" }, empty))]));
  }

  // --- Performance charts ---
  const boxes = { memory: "perf-memory", gpu: "perf-gpu", network: "perf-network" };
  for (const key of Object.keys(boxes)) boxes[key] = document.getElementById(boxes[key]);
  const errorBox = document.getElementById("perf-error");
  const pressureLine = document.getElementById("perf-pressure");
  const networkNow = document.getElementById("perf-network-now");
  const tierButtons = document.querySelectorAll("[data-tier]");
  const secs = (iso) => Date.parse(iso) / 1000;
  const percent = (v) => `${+v.toFixed(1)} %`;
  const points = (rows = [], scale = 1) => rows.map((r) => [secs(r.at), r.value * scale]);
  const SAFE = 70, LIMIT = 92; // the guide's safe zone and utilisation limit, % of memory
  let tier = "10s";
  let history = null; // the last answer of the history API
  let live = new Map(); // network series -> [[t, bytes/s]] read since that answer
  const charts = {};

  // Draws `spec` in its box, or updates the chart there when it plots the same series.
  function draw(key, spec, data) {
    const labels = spec.series.map((s) => s.label).join("|");
    const chart = charts[key];
    if (chart && chart.labels === labels) { chart.update(data); return; }
    charts[key] = { ...Charts.chart(boxes[key], spec, data), labels };
  }

  function empty(key, text) {
    delete charts[key];
    Charts.release(boxes[key]);
    boxes[key].replaceChildren(el("p", { class: "empty" }, text));
  }

  function memoryChart() {
    const used = history.samples.map((s) => [secs(s.at), s.ram_total ? (100 * s.ram_used) / s.ram_total : null]);
    if (!used.length) return empty("memory", "No memory readings yet.");
    const [xs, inUse, swap] = Charts.align([used, points(history.series.swap_used)]);
    draw("memory", {
      label: "Memory in use and swap",
      series: [
        { label: "memory in use", scale: "%", format: percent },
        { label: `guide's limit (${LIMIT} %)`, scale: "%", format: percent, color: Charts.color(3), dash: [6, 4] },
        { label: `safe zone (${SAFE} %)`, scale: "%", format: percent, color: Charts.color(1), dash: [6, 4] },
        { label: "swap used", scale: "bytes", format: Charts.bytes, color: Charts.color(2) },
      ],
      scales: { "%": { range: [0, 100] }, bytes: { range: (u, min, max) => [0, Math.max(max || 0, 1024 ** 3)] } },
      axes: [{ scale: "%", format: (v) => `${v} %` }, { scale: "bytes", side: 1, format: Charts.bytes }],
    }, [xs, inUse, xs.map(() => LIMIT), xs.map(() => SAFE), swap]);
  }

  function gpuChart() {
    const s = history.series;
    if (!s.gpu_usage && !s.temperature && !s.power) return empty("gpu", "No GPU readings yet.");
    draw("gpu", {
      label: "GPU use, temperature and power",
      series: [
        { label: "GPU use", scale: "%", format: percent },
        { label: "temperature", scale: "%", format: (v) => `${+v.toFixed(1)} °C`, color: Charts.color(2) },
        { label: "power", scale: "W", format: (v) => `${+v.toFixed(1)} W`, color: Charts.color(3) },
      ],
      scales: { "%": { range: (u, min, max) => [0, Math.max(max || 0, 100)] }, W: { range: (u, min, max) => [0, Math.max(max || 0, 10)] } },
      axes: [{ scale: "%", format: (v) => `${v}` }, { scale: "W", side: 1, format: (v) => `${v} W` }],
    }, Charts.align([points(s.gpu_usage, 100), points(s.temperature), points(s.power)]));
  }

  // Series `net.<interface>.<rx|tx>`, from the history and from the readings since.
  function networkChart() {
    const names = [...new Set([...Object.keys(history.series), ...live.keys()].filter((k) => k.startsWith("net.")))].sort();
    if (!names.length) return empty("network", "No network readings yet: the node's worker reads its interfaces every poll.");
    const lists = names.map((k) => [...points(history.series[k]), ...(live.get(k) || [])]);
    draw("network", {
      label: "Network throughput per interface",
      series: names.map((k) => {
        const [, iface, way] = k.match(/^net\.(.+)\.(rx|tx)$/);
        return { label: `${iface} ${way === "rx" ? "in" : "out"}`, scale: "rate", format: Charts.rate, dash: way === "tx" ? [4, 3] : undefined };
      }),
      scales: { rate: { range: (u, min, max) => [0, Math.max(max || 0, 1024)] } },
      axes: [{ scale: "rate", format: Charts.rate }],
    }, Charts.align(lists));
  }

  function drawAll() {
    memoryChart();
    gpuChart();
    networkChart();
  }

  function load() {
    Live.api("GET", `${Live.url("api-node-history", { name })}?tier=${tier}`).then((data) => {
      history = data;
      // Live readings the history does not hold yet (its newest bucket began before them) stay.
      const newest = Math.max(0, ...Object.values(data.series).map((rows) => secs(rows[rows.length - 1].at)));
      live = new Map([...live].map(([key, rows]) => [key, rows.filter(([t]) => t > newest)]));
      errorBox.hidden = true;
      drawAll();
    }).catch((e) => { errorBox.textContent = e.message; errorBox.hidden = false; });
  }

  tierButtons.forEach((button) => button.addEventListener("click", () => {
    tier = button.dataset.tier;
    live = new Map();
    tierButtons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    load();
  }));
  // New buckets every 10 s (or 5 min): fetch them, keeping whatever zoom the person chose.
  setInterval(() => { if (tier === "10s") load(); }, 10000);
  setInterval(() => { if (tier === "5m") load(); }, 300000);
  load();

  // `memory_pressure`'s question, answered with the guide's thresholds.
  function pressure(node) {
    const total = node.ram_total || node.ram_bytes;
    if (node.ram_used === null || !total) { pressureLine.textContent = "Memory pressure: no reading yet."; return; }
    const used = (100 * node.ram_used) / total;
    const level = used >= LIMIT ? "critical" : used >= SAFE ? "warning" : "normal";
    pressureLine.replaceChildren("Memory pressure: ", el("span", { class: `badge pressure-${level}`, id: "perf-pressure-level" }, level),
      ` ${percent(used)} in use · swap ${node.swap_used === null ? "not reported" : Charts.bytes(node.swap_used)}`);
  }

  function showRates(network) {
    const parts = Object.entries(network.interfaces || {}).map(([iface, r]) =>
      el("span", { class: "rate", "data-interface": iface, "data-at": network.at, "data-rx": String(r.rx), "data-tx": String(r.tx) },
        el("strong", {}, iface), ` in ${Charts.rate(r.rx)} · out ${Charts.rate(r.tx)}`));
    for (const iface of network.missing || []) parts.push(el("span", { class: "rate warn" }, `${iface}: not on this host`));
    networkNow.replaceChildren(...(parts.length ? parts : ["No interface carried traffic."]));
  }

  ClusterView.follow((snapshot) => {
    const node = snapshot.nodes.find((n) => n.name === name);
    if (!node) return;
    card.replaceChildren(ClusterView.nodeCard(node));
    gpus(node.gpu);
    pressure(node);
    if (node.network && node.network.interfaces && !networkNow.dataset.live) showRates(node.network);
  }, (message) => {
    if (message.node !== name) return;
    networkNow.dataset.live = "true";
    showRates(message.network);
    if (tier !== "10s" || !history) return;
    const t = secs(message.network.at);
    for (const [iface, r] of Object.entries(message.network.interfaces)) {
      for (const [way, value] of [["rx", r.rx], ["tx", r.tx]]) {
        const key = `net.${iface}.${way}`;
        live.set(key, [...(live.get(key) || []), [t, value]]);
      }
    }
    networkChart();
  });
})();
