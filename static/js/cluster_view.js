// Renders the cluster snapshot that the cluster socket sends: totals, topology, node cards, instances.
"use strict";

const ClusterView = (() => {
  const { el, bytes, gb } = Live;
  const pct = (f) => `${Math.round(f * 100)}%`;

  function ago(iso) {
    if (!iso) return "never";
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    return s < 5 ? "just now" : `${Live.duration(s)} ago`;
  }

  // A bar with the guide's 70% safe zone and 92% limit marked on it.
  function memoryBar(used, total, { markers = false } = {}) {
    const fraction = total ? Math.min(used / total, 1) : 0;
    const level = fraction >= 0.92 ? "high" : fraction >= 0.7 ? "medium" : "low";
    const bar = el("div", { class: `membar risk-${level}`, role: "meter", "aria-valuemin": "0",
      "aria-valuemax": String(total || 0), "aria-valuenow": String(used || 0),
      "aria-label": `memory ${pct(fraction)} used` }, el("span", { style: `width:${fraction * 100}%` }));
    if (markers) {
      bar.append(el("i", { class: "mark safe", style: "left:70%", title: "70%: the guide's safe zone" }),
        el("i", { class: "mark limit", style: "left:92%", title: "92%: the guide's limit" }));
    }
    return bar;
  }

  function sparkline(history) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 120 30");
    svg.setAttribute("class", "sparkline");
    svg.setAttribute("aria-label", "memory in use, last minutes");
    if (!history || history.length < 2) {
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", "0"); text.setAttribute("y", "20"); text.textContent = "collecting history…";
      svg.append(text);
      return svg;
    }
    const points = history.map((s, i) => {
      const x = (i / (history.length - 1)) * 120;
      const y = 29 - (s.ram_total ? s.ram_used / s.ram_total : 0) * 28;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(line);
    return svg;
  }

  function totals(container, snapshot) {
    const t = snapshot.totals;
    container.replaceChildren(
      memoryBar(t.used, t.total, { markers: true }),
      el("p", { class: "totals-line" },
        el("strong", {}, `${gb(t.used)} of ${gb(t.total)} in use (${pct(t.fraction)})`),
        el("span", { class: `badge risk-${t.risk}` }, `${t.risk} risk`),
        el("span", { class: "muted" }, ` · safe zone under ${gb(t.safe_bytes)} (70%) · limit ${gb(t.limit_bytes)} (92%)`)));
  }

  function topology(container, snapshot) {
    const exoNodes = snapshot.nodes.filter((n) => n.in_exo_cluster);
    const row = el("div", { class: "topology" });
    exoNodes.forEach((node, i) => {
      if (i > 0) {
        const pair = snapshot.links.filter((l) => [l.a, l.b].includes(node.name) && [l.a, l.b].includes(exoNodes[i - 1].name));
        const wires = el("div", { class: "wires" });
        if (!pair.length) wires.append(el("div", { class: "wire none" }, el("span", {}, "no link")));
        pair.sort((x, y) => (x.kind === "rdma" ? -1 : 1)).forEach((link) => wires.append(
          el("div", { class: `wire ${link.kind}` }, el("span", {},
            link.kind === "rdma" ? `RDMA · Thunderbolt 5 (${link.interfaces.join(" ↔ ")})` : `TCP ${link.address || ""}`))));
        row.append(wires);
      }
      row.append(el("div", { class: `topo-node status-${node.status}` }, el("strong", {}, node.display_name),
        el("span", { class: "small muted" }, node.status)));
    });
    const children = [row];
    if (snapshot.rdma_expected && snapshot.reachable && !snapshot.rdma_linked) {
      children.push(el("p", { class: "warning", role: "alert" },
        "RDMA is off between the Macs: tensor parallelism runs over TCP (about 0.7 ms and 10 Gb/s instead of under 100 µs and 80 Gb/s). Run `rdma_ctl enable` in Recovery on both, then reboot both."));
    }
    if (snapshot.unmatched_nodes?.length) {
      children.push(el("p", { class: "muted small" }, `exo also reports: ${snapshot.unmatched_nodes.join(", ")} (not in the inventory)`));
    }
    container.replaceChildren(...children);
  }

  // How long the node's exo process has run, or "" when it is not running.
  function uptime(process) {
    return process?.running && process.started_at ? Live.duration((Date.now() - Date.parse(process.started_at)) / 1000) : "";
  }

  // The node card's line: "exo running · pid 123 · up 5m · 1.0.71".
  function exoLine(process) {
    if (!process?.running) return "exo not running";
    return [`exo running · pid ${process.pid}`, uptime(process) && `up ${uptime(process)}`, process.version]
      .filter(Boolean).join(" · ");
  }

  // The node card's worker line, from the workers' heartbeats: a node whose worker is gone
  // keeps its jobs queued until it is back.
  function workerLine(worker) {
    if (worker?.online) {
      return el("p", { class: "small muted worker-line" }, `worker online · ${worker.bulk.host}`);
    }
    const lanes = ["bulk", "control"].filter((lane) => !worker?.[lane]?.online);
    return el("p", { class: "warning small worker-line", role: "status" },
      `worker offline (${lanes.join(" and ")}): its jobs wait in its queue`);
  }

  function fact(label, value) {
    return el("div", { class: "fact" }, el("span", { class: "muted small" }, label), el("span", {}, value));
  }

  const watts = (w) => (w === null || w === undefined ? "—" : `${w.toFixed(0)} W`);

  // "1 × NVIDIA H200", "2 × NVIDIA H200 + 1 × NVIDIA L40S".
  function gpuModels(gpus) {
    const counts = new Map();
    gpus.forEach((g) => counts.set(g.name || "GPU", (counts.get(g.name || "GPU") || 0) + 1));
    return [...counts].map(([name, n]) => `${n} × ${name}`).join(" + ");
  }

  // The memory line, bar and sparkline: unified memory on the Macs, GPU memory on GAMMA.
  function memory(node, label) {
    const used = node.ram_used, total = node.ram_total || node.ram_bytes;
    return [
      el("div", { class: "mem-line small" }, el("span", {}, label),
        el("span", {}, used === null ? "—" : `${gb(used)} / ${gb(total)} (${pct(total ? used / total : 0)})`)),
      memoryBar(used || 0, total),
      sparkline(node.history)];
  }

  // A node that reads its own GPUs (GAMMA): their figures, or why there are none.
  function gpuBlock(node) {
    const gpu = node.gpu;
    if (!gpu.read) return [el("p", { class: "muted small gpu-waiting" }, "Waiting for the first GPU reading from its worker…")];
    if (!gpu.available) return [el("p", { class: "gpu-unavailable" }, `GPU not available: ${gpu.reason}`)];
    const processes = gpu.gpus.reduce((n, g) => n + (g.processes || []).length, 0);
    return [
      el("p", { class: "small gpu-models" }, gpuModels(gpu.gpus), gpu.driver_version ? el("span", { class: "muted" }, ` · driver ${gpu.driver_version}`) : ""),
      ...memory(node, gpu.memory_source === "host" ? "Memory (shared with the GPU)" : "GPU memory"),
      el("div", { class: "facts-grid" },
        fact("GPU", node.gpu_usage === null ? "—" : pct(node.gpu_usage)),
        fact("Temp", node.temperature === null ? "—" : `${node.temperature.toFixed(0)} °C`),
        fact("Power", gpu.power_limit ? `${watts(node.power)} / ${watts(gpu.power_limit)}` : watts(node.power)),
        fact("Processes", processes ? String(processes) : "none"),
        fact("Last seen", ago(node.last_seen_at)))];
  }

  function nodeCard(node) {
    const card = el("article", { class: `card node status-${node.status}`, "data-node": node.name },
      el("header", {}, el("h3", {}, el("a", { href: `/nodes/${node.name}/` }, node.display_name)),
        el("span", { class: `badge status-${node.status}` }, node.status)),
      el("p", { class: "muted small" }, `${node.hardware} · ${node.role === "standalone" ? "standalone" : `exo ${node.role}`}`));
    // A GPU that is not available says so below, with its reason.
    if (node.status_reason && !(node.gpu && node.status_reason.startsWith("GPU not available"))) {
      card.append(el("p", { class: "reason small" }, node.status_reason));
    }
    card.append(workerLine(node.worker));
    if (node.in_exo_cluster) {
      card.append(
        ...memory(node, "Memory"),
        el("div", { class: "facts-grid" },
          fact("GPU", node.gpu_usage === null ? "—" : pct(node.gpu_usage)),
          fact("Temp", node.temperature === null ? "—" : `${node.temperature.toFixed(0)} °C`),
          fact("Power", watts(node.power)),
          fact("Disk free", bytes(node.disk_free)),
          fact("RDMA", node.rdma_enabled === null ? "—" : node.rdma_enabled ? "enabled" : "disabled"),
          fact("Last seen", ago(node.last_seen_at))),
        el("p", { class: "small muted exo-line" }, exoLine(node.exo_process)));
    } else if (node.gpu) {
      card.append(...gpuBlock(node));
    } else {
      card.append(el("p", {}, node.purpose));
    }
    const ping = el("button", { class: "ping", "data-node": node.name,
      title: "Ask this node's worker for its host facts and broker round trips" }, "Ping worker");
    ping.addEventListener("click", () => Live.api("POST", Live.url("api-jobs"),
      { kind: "ping", node: node.name, params: { count: 5, interval: 0.5 } })
      .catch((e) => Live.notify(`Could not start the ping: ${e.message}`)));
    if (Live.can("runJobs")) card.append(ping);
    return card;
  }

  function nodes(container, snapshot) {
    container.replaceChildren(...snapshot.nodes.map(nodeCard));
  }

  function instanceRow(instance) {
    // A change of state is read out with the model's name; each layer loaded is not.
    const badge = el("span", { class: `badge status-${instance.status}` }, instance.status);
    if (instance.status === "loading") {
      badge.append(el("span", { "aria-live": "off" }, ` ${instance.layers_loaded}/${instance.layers_total} layers`));
    }
    const row = el("li", { class: `instance status-${instance.status}`, "data-instance": instance.instance_id,
      "data-key": instance.instance_id },
      el("div", { class: "instance-head", "aria-atomic": "true" },
        el("strong", {}, instance.model_id),
        el("span", { class: "muted small" }, ` ${instance.sharding} · ${instance.backend} · ${instance.nodes.map((n) => n.toUpperCase()).join(" + ")}`),
        badge));
    if (instance.status === "loading" && instance.layers_total) {
      row.append(el("div", { class: "bar" }, el("span", { style: `width:${(instance.layers_loaded / instance.layers_total) * 100}%` })));
    }
    if (instance.error) row.append(el("p", { class: "error small" }, instance.error));
    const unload = el("button", { class: "danger small" }, "Unload");
    unload.addEventListener("click", async () => {
      if (!confirm(`Unload ${instance.model_id}? Requests to it will fail until it is loaded again.`)) return;
      unload.disabled = true;
      try { await Live.api("DELETE", Live.url("api-instance", { instance_id: instance.instance_id })); }
      catch (e) { Live.notify(e.message); unload.disabled = false; }
    });
    if (Live.can("runJobs")) row.querySelector(".instance-head").append(unload);
    return row;
  }

  function instances(container, snapshot) {
    if (!snapshot.reachable) {
      Live.patch(container, [el("li", { class: "empty" }, "Unknown while exo is unreachable.")]);
    } else if (!snapshot.instances.length) {
      Live.patch(container, [el("li", { class: "empty" }, "No model loaded. Load one from the Cluster page.")]);
    } else {
      Live.patch(container, snapshot.instances.map(instanceRow));
    }
  }

  function banner(snapshot) {
    const box = document.getElementById("exo-banner");
    if (!box) return;
    box.hidden = snapshot.reachable;
    document.getElementById("exo-banner-text").textContent = snapshot.error || "";
  }

  // The first frame on connect carries each node's memory history; later frames carry only the
  // current reading, added here as a new point every 10 s (the server's bucket width).
  const histories = new Map();
  function keepHistory(snapshot) {
    for (const node of snapshot.nodes) {
      if (node.history) { histories.set(node.name, node.history); continue; }
      const points = histories.get(node.name) || [];
      const last = points[points.length - 1];
      if (node.ram_used !== null && (!last || Date.parse(snapshot.polled_at) - Date.parse(last.at) >= 10000)) {
        points.push({ at: snapshot.polled_at, ram_used: node.ram_used, ram_total: node.ram_total });
        histories.set(node.name, points.slice(-60));
      }
      node.history = histories.get(node.name) || [];
    }
  }

  // Calls render(snapshot) with every snapshot, the first one on connect, and onNetwork(message)
  // with each node's network reading ({node, network}) between them.
  function follow(render, onNetwork = () => {}) {
    Live.socket(Live.url("ws-cluster"), (message) => {
      if (message.type === "cluster" && message.cluster) {
        keepHistory(message.cluster);
        banner(message.cluster);
        render(message.cluster);
      } else if (message.type === "network") {
        onNetwork(message);
      }
    });
  }

  return { follow, totals, topology, nodes, nodeCard, instances, ago, pct, uptime, sparkline };
})();
