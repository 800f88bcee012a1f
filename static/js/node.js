// Node page: the node's card, live from the cluster socket, each GPU of a node that reads its own
// (GAMMA), and its memory over the last day.
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

  ClusterView.follow((snapshot) => {
    const node = snapshot.nodes.find((n) => n.name === name);
    if (!node) return;
    card.replaceChildren(ClusterView.nodeCard(node));
    gpus(node.gpu);
  });

  const history = document.getElementById("node-history");
  Live.api("GET", `${Live.url("api-node-history", { name })}?tier=5m`).then((data) => history.replaceChildren(
    ClusterView.sparkline(data.samples),
    el("p", { class: "muted small" }, `Peak memory in use every 5 minutes (${data.samples.length} so far).`)))
    .catch((e) => history.replaceChildren(el("p", { class: "error" }, e.message)));
})();
