// Downloads: the model x node matrix, with live progress from the jobs socket and actions per cell.
"use strict";
(() => {
  const { el } = Live;
  const table = document.getElementById("matrix");
  const error = document.getElementById("downloads-error");
  let matrix = null;

  const showError = (text) => { error.textContent = text; error.hidden = !text; };

  async function act(method, url, body, confirmText) {
    if (confirmText && !confirm(confirmText)) return;
    showError("");
    try { await Live.api(method, url, body); await refresh(); } catch (e) { showError(e.message); }
  }

  // Every button here starts or controls a job: none for a role that may not.
  function button(label, onClick, cls = "small") {
    if (!Live.can("runJobs")) return "";
    const b = el("button", { class: cls }, label);
    b.addEventListener("click", onClick);
    return b;
  }

  function cell(model, node, c) {
    const job = c.job;
    // Keyed by the job too: its buttons act on it.
    const td = el("td", { class: `cell state-${c.state}`, "data-model": model.slug, "data-node": node.name,
      "data-key": `${node.name}:${job?.id ?? ""}` });
    const url = Live.url("api-model-download", { slug: model.slug });
    const label = c.source === "exo" ? `${c.state} (exo)` : c.state;
    td.append(el("div", { class: "cell-state" }, label));
    if (c.total) {
      const pct = Math.round((c.progress || 0) * 100);
      td.append(el("div", { class: `bar state-${c.state}`, role: "progressbar", "aria-valuenow": String(pct),
        "aria-valuemin": "0", "aria-valuemax": "100" }, el("span", { style: `width:${pct}%` })));
      const bits = [`${pct}%`, `${Live.bytes(c.done)} of ${Live.bytes(c.total)}`];
      if (c.state === "running" || c.state === "ongoing") {
        if (c.speed) bits.push(`${Live.bytes(c.speed)}/s`);
        if (c.eta_seconds !== null && c.eta_seconds !== undefined) bits.push(`ETA ${Live.duration(c.eta_seconds)}`);
      }
      if (job?.detail?.files_total) bits.push(`${job.detail.files_done}/${job.detail.files_total} files`);
      td.append(el("div", { class: "small muted", "aria-live": "off" }, bits.join(" · ")));
    }
    if (c.message && !["succeeded"].includes(c.state)) td.append(el("div", { class: "small cell-message" }, c.message));
    const actions = el("div", { class: "cell-actions" });
    const control = (action) => () => act("POST", Live.url(`api-job-${action}`, { job_id: job.id }));
    if (["queued", "running"].includes(c.state) && job) actions.append(button("Pause", control("pause")), button("Cancel", control("cancel"), "small danger"));
    else if (c.state === "paused" && job) actions.append(button("Resume", control("resume")), button("Cancel", control("cancel"), "small danger"));
    else if (["succeeded", "completed"].includes(c.state)) {
      actions.append(button("Delete", () => act("DELETE", url, { node: node.name },
        `Delete ${model.display_name} from ${node.display_name}? This frees its disk space; exo cannot load it there until it is downloaded again.`), "small danger"));
    } else if (!["pending", "ongoing", "delete queued", "delete running"].includes(c.state)) {
      actions.append(button("Download", () => act("POST", url, { node: node.name }), "small primary"));
    }
    td.append(actions);
    return td;
  }

  function render() {
    const head = el("tr", {}, el("th", {}, "Model"), ...matrix.nodes.map((n) => el("th", {},
      el("div", {}, n.display_name),
      el("div", { class: "small muted" }, n.disk_free === null ? "disk: unknown" : `${Live.gb(n.disk_free)} free of ${Live.gb(n.disk_total)}`),
      n.disk_total ? el("div", { class: "bar" }, el("span", { style: `width:${(1 - n.disk_free / n.disk_total) * 100}%` })) : "")));
    table.tHead.replaceChildren(head);
    if (!matrix.models.length) {
      Live.patch(table.tBodies[0], [el("tr", {}, el("td", { class: "empty" }, "The catalogue is empty."))]);
      return;
    }
    Live.patch(table.tBodies[0], matrix.models.map((m) => el("tr", { "data-key": m.slug },
      el("td", {}, el("a", { href: Live.url("model", { slug: m.slug }) }, m.display_name),
        el("div", { class: "small muted" }, Live.gb(m.size_bytes),
          m.tensor_parallel === "required" ? " · tensor parallel: needs every node" : ""),
        button(m.tensor_parallel === "required" ? "Download to every node" : "Download to ALPHA",
          () => act("POST", Live.url("api-model-download", { slug: m.slug }), {}), "small")),
      ...matrix.nodes.map((n) => cell(m, n, m.cells[n.name])))));
  }

  async function refresh() {
    try { matrix = await Live.api("GET", Live.url("api-downloads")); render(); }
    catch (e) { showError(e.message); }
  }

  // Live progress: patch the running cell from job events; reload the matrix on state changes.
  const states = new Map();
  function receive(jobs, snapshot) {
    let changed = false;
    for (const job of jobs) {
      if (!job.kind.startsWith("model.")) continue;
      if (states.get(job.id) !== job.state) { changed = true; states.set(job.id, job.state); }
      const row = matrix?.models.find((m) => m.repo_id === job.params.repo_id);
      if (row && job.node && row.cells[job.node] && job.kind === "model.download") {
        row.cells[job.node] = { source: "panel", job, state: job.state, done: job.done, total: job.total,
          progress: job.progress, speed: job.speed, eta_seconds: job.eta_seconds, message: job.error || job.message };
      }
    }
    if (changed && !snapshot) refresh(); else if (matrix) render();
  }
  Live.jobs.subscribe({ snapshot: (jobs) => receive(jobs, true), job: (job) => receive([job], false) });
  refresh();
  setInterval(refresh, 10000);  // exo's own downloads arrive with the cluster poll
})();
