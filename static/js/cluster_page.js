// Cluster page: pick a model, see exo's placements, load one; loaded models and nodes live.
"use strict";
(() => {
  const { el } = Live;
  const select = document.getElementById("model-select");
  const error = document.getElementById("load-error");
  const table = document.getElementById("previews");
  const showError = (text) => { error.textContent = text; error.hidden = !text; };

  Live.api("GET", Live.url("api-cluster-models")).then((models) => {
    select.replaceChildren(el("option", { value: "" }, "Choose a model…"),
      ...models.map((m) => el("option", { value: m.id }, `${m.name || m.id} · ${Live.gb(m.storage_size_megabytes * 1024 ** 2)}`)));
  }).catch((e) => { select.replaceChildren(el("option", { value: "" }, "exo's catalogue is unavailable")); showError(e.message); });

  document.getElementById("preview-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    if (!select.value) { showError("Choose a model first."); return; }
    try {
      const data = await Live.api("GET", `${Live.url("api-instance-previews")}?${new URLSearchParams({ model: select.value })}`);
      table.tBodies[0].replaceChildren(...data.previews.map((p) => previewRow(data.model_id, p)));
      table.hidden = false;
    } catch (e) { showError(e.message); }
  });

  function previewRow(modelId, preview) {
    const memory = Object.entries(preview.memory_by_node).map(([n, b]) => `${n.toUpperCase()} ${Live.gb(b)}`).join(", ");
    const action = el("td");
    if (preview.error) {
      action.append(el("span", { class: "error small" }, preview.error));
    } else {
      const load = el("button", { class: "primary small" }, "Load");
      load.addEventListener("click", async () => {
        load.disabled = true;
        try {
          await Live.api("POST", Live.url("api-instances"), { model: modelId, sharding: preview.sharding,
            instance_meta: preview.instance_meta, min_nodes: preview.nodes.length || 1 });
        } catch (e) { showError(e.message); load.disabled = false; }
      });
      if (Live.can("runJobs")) action.append(load);
    }
    return el("tr", { class: preview.error ? "unplaceable" : "" }, el("td", {}, preview.sharding), el("td", {}, preview.instance_meta),
      el("td", {}, preview.nodes.map((n) => n.toUpperCase()).join(" + ") || "—"), el("td", {}, memory || "—"), action);
  }

  // The snapshot lists each link once, as a pair: a node's are the pairs it is an end of.
  const linksOf = (name, links) => (links || []).filter((l) => l.a === name || l.b === name)
    .map((l) => `${l.kind.toUpperCase()} → ${(l.a === name ? l.b : l.a).toUpperCase()}`
      + (l.interfaces.length ? ` (${l.interfaces.join(" ↔ ")})` : "")).join(", ");

  ClusterView.follow((snapshot) => {
    ExoOps.nodes(document.querySelector("#exo-table tbody"), snapshot);
    ClusterView.instances(document.getElementById("instances"), snapshot);
    document.querySelector("#node-table tbody").replaceChildren(...snapshot.nodes.map((n) => el("tr", {},
      el("td", {}, n.display_name),
      el("td", {}, el("span", { class: `badge status-${n.status}` }, n.status), " ", el("span", { class: "small muted" }, n.status_reason)),
      el("td", { class: "mono small" }, n.exo_node_id || "—"),
      el("td", {}, n.ram_used === null ? "—" : `${Live.gb(n.ram_used)} / ${Live.gb(n.ram_total)}`),
      el("td", {}, Live.bytes(n.disk_free)),
      el("td", { class: "small" }, linksOf(n.name, snapshot.links) || "—"),
      el("td", {}, ClusterView.ago(n.last_seen_at)))));
  });
})();
