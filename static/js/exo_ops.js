// Cluster page: start, stop and restart exo (the whole cluster or one node), the latest such
// job with its live log, and each node's exo process from the cluster snapshot.
"use strict";

const ExoOps = (() => {
  const { el } = Live;
  const root = document.getElementById("exo-ops");
  const error = document.getElementById("ops-error");
  const KINDS = /^(cluster|exo)\./;
  let current = null;

  const showError = (text) => { error.textContent = text; error.hidden = !text; };

  // The job on show: the newest start/stop job, except that the node jobs a cluster job
  // starts do not take its place (only a node job created after it finished does).
  function takesOver(job) {
    if (!current || job.id === current.id) return true;
    if (job.id < current.id) return false;
    if (job.kind.startsWith("cluster.") || !current.kind.startsWith("cluster.")) return true;
    return Boolean(current.finished_at) && Date.parse(job.created_at) > Date.parse(current.finished_at);
  }

  function show(job) {
    if (!takesOver(job)) return;
    current = job;
    document.getElementById("ops-empty").hidden = true;
    document.getElementById("ops-job").hidden = false;
    Live.patch(document.getElementById("ops-job-row"), [Live.jobRow(job)]);
    const log = document.getElementById("ops-log");
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.textContent = job.log_tail.length ? job.log_tail.join("\n") : "(no output yet)";
    if (atEnd) log.scrollTop = log.scrollHeight;
    const busy = job.kind.startsWith("cluster.") && Live.ACTIVE.has(job.state);
    root.querySelectorAll("[data-cluster-op]").forEach((button) => { button.disabled = busy; });
  }

  async function post(url, confirmText) {
    if (confirmText && !confirm(confirmText)) return;
    showError("");
    try { show(await Live.api("POST", url)); } catch (e) { showError(e.message); }
  }

  root.querySelectorAll("[data-cluster-op]").forEach((button) => {
    button.addEventListener("click", () => post(Live.url(`api-cluster-${button.dataset.clusterOp}`), button.dataset.confirm));
  });

  Live.jobs.subscribe({
    snapshot(jobs) { [...jobs].reverse().filter((job) => KINDS.test(job.kind)).forEach(show); },
    job(job) { if (KINDS.test(job.kind)) show(job); },
  });

  function processCells(node) {
    const p = node.exo_process;
    return [
      el("td", {}, el("span", { class: `badge status-${p.running ? "online" : "offline"}` }, p.running ? "running" : "not running")),
      el("td", { class: "mono small" }, p.pid === null ? "—" : String(p.pid)),
      el("td", {}, ClusterView.uptime(p) || "—"),
      el("td", {}, p.version || "—"),
      el("td", { class: "small muted" }, p.checked_at ? ClusterView.ago(p.checked_at) : "never"),
    ];
  }

  const canOperate = root.dataset.canOperate === "true";

  function nodeButtons(node) {
    if (!canOperate) return el("td", {});
    const start = el("button", { type: "button", class: "small", "data-node-op": "start" }, "Start");
    const stop = el("button", { type: "button", class: "small danger", "data-node-op": "stop" }, "Stop");
    start.addEventListener("click", () => post(Live.url("api-node-start", { name: node.name })));
    stop.addEventListener("click", () => post(Live.url("api-node-stop", { name: node.name }),
      `Stop exo on ${node.display_name}? Models using it go away.`));
    start.disabled = node.exo_process.running;
    return el("td", {}, start, " ", stop);
  }

  // One row per exo node; called with every cluster snapshot.
  function nodes(tbody, snapshot) {
    const exoNodes = snapshot.nodes.filter((node) => node.in_exo_cluster);
    if (!exoNodes.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: "7", class: "empty" }, "No node is part of the exo cluster.")));
      return;
    }
    tbody.replaceChildren(...exoNodes.map((node) => el("tr", { "data-node": node.name },
      el("td", {}, node.display_name), ...processCells(node), nodeButtons(node))));
  }

  return { nodes };
})();
