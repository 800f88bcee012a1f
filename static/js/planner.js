// Planner: every change asks the plan API and draws the guide's table, the bars and the verdict.
"use strict";
(() => {
  const { el } = Live;
  const form = document.getElementById("plan-form");
  const error = document.getElementById("plan-error");
  const COLOURS = ["#2f81f7", "#a371f7", "#3fb950", "#db6d28", "#f778ba", "#56d4dd", "#e3b341", "#8b949e"];

  function request() {
    const data = new FormData(form);
    return { models: data.getAll("models"), context_tokens: Number(data.get("context_tokens")), live: data.get("live") === "on" };
  }

  // A stacked bar: one segment per part, with the guide's markers.
  function stacked(parts, total, markers) {
    const bar = el("div", { class: "stack", role: "img",
      "aria-label": parts.map((p) => `${p.label} ${p.text}`).join(", ") });
    parts.forEach((p) => bar.append(el("span", { class: `seg ${p.cls || ""}`, title: `${p.label}: ${p.text}`,
      style: `width:${Math.max(0, (p.bytes / total) * 100)}%;${p.colour ? `background:${p.colour}` : ""}` })));
    markers.forEach(([fraction, cls, title]) => bar.append(el("i", { class: `mark ${cls}`, style: `left:${fraction * 100}%`, title })));
    return bar;
  }

  function legend(parts) {
    return el("p", { class: "legend small" }, ...parts.map((p) => el("span", {},
      el("b", { class: `swatch ${p.cls || ""}`, style: p.colour ? `background:${p.colour}` : "" }), ` ${p.label} ${p.text} `)));
  }

  function render(plan) {
    document.getElementById("plan").hidden = false;
    const colour = Object.fromEntries(plan.rows.map((r, i) => [r.slug, COLOURS[i % COLOURS.length]]));
    const verdict = document.getElementById("verdict");
    verdict.className = `card verdict ${plan.fits ? "fits" : "no-fit"}`;
    verdict.replaceChildren(
      el("h2", {}, plan.rows.length ? (plan.fits ? "Fits" : "Does not fit") : "Pick models to plan"),
      el("p", {}, `${plan.totals.loaded_label} of models (${plan.totals.utilisation_label} of ${plan.thresholds.total_label}), ${Live.bytes(plan.totals.kv_cache_bytes)} of KV cache at ${plan.context_tokens.toLocaleString()} tokens, ${Live.bytes(plan.totals.overhead_bytes)} overhead: needs ${plan.totals.needed_label}. Safe zone under ${plan.thresholds.safe_label}, limit ${plan.thresholds.limit_label}.`),
      ...plan.reasons.map((r) => el("p", { class: "error" }, r)),
      ...(plan.suggestion ? [el("p", { class: "suggestion" }, plan.suggestion.sentence)] : []),
      ...plan.warnings.map((w) => el("p", { class: "warning" }, w)),
      ...plan.notes.map((n) => el("p", { class: "muted small" }, n)),
      el("p", { class: "muted small" }, plan.live_nodes.length
        ? `Planned on top of the memory in use now on ${plan.live_nodes.map((n) => n.toUpperCase()).join(" and ")}.`
        : "Planned on configured memory (the cluster is not reporting, or live memory is off)."));

    const total = plan.thresholds.total_bytes;
    const clusterParts = [
      ...plan.rows.map((r) => ({ label: r.name, bytes: r.size_bytes, text: r.size_label, colour: colour[r.slug] })),
      { label: "KV cache", bytes: plan.totals.kv_cache_bytes, text: Live.bytes(plan.totals.kv_cache_bytes), cls: "kv" },
      { label: "overhead", bytes: plan.totals.overhead_bytes, text: Live.bytes(plan.totals.overhead_bytes), cls: "overhead" },
      { label: "in use now", bytes: plan.totals.in_use_bytes, text: Live.bytes(plan.totals.in_use_bytes), cls: "inuse" },
    ].filter((p) => p.bytes > 0);
    document.getElementById("cluster-bar").replaceChildren(
      stacked(clusterParts, total, [[0.7, "safe", "70%: safe zone"], [0.92, "limit", "92%: limit"]]), legend(clusterParts));

    document.querySelector("#plan-table tbody").replaceChildren(...plan.rows.map((r, i) => el("tr", { class: r.not_recommended ? "not-recommended" : "" },
      el("td", {}, `${i ? "+ " : ""}${r.name}`, r.not_recommended ? el("span", { class: "badge tier-not_recommended" }, "not recommended") : ""),
      el("td", {}, `${i ? "+" : ""}${r.size_label}`), el("td", {}, Live.bytes(r.kv_cache_bytes)),
      el("td", {}, r.utilisation_label), el("td", {}, r.remaining_label),
      el("td", {}, el("span", { class: `badge risk-${r.risk.toLowerCase()}` }, r.risk)))));
    document.querySelector("#plan-table tfoot").replaceChildren(el("tr", {},
      el("th", {}, "Total loaded"), el("th", {}, plan.totals.loaded_label), el("th", {}, Live.bytes(plan.totals.kv_cache_bytes)),
      el("th", {}, plan.totals.utilisation_label), el("th", {}), el("th", {}, el("span", { class: `badge risk-${plan.totals.risk.toLowerCase()}` }, plan.totals.risk))));

    document.getElementById("node-bars").replaceChildren(...plan.nodes.map((n) => {
      const parts = [
        { label: "in use now", bytes: n.used_bytes, text: Live.bytes(n.used_bytes), cls: "inuse" },
        { label: "overhead", bytes: n.overhead_bytes, text: Live.bytes(n.overhead_bytes), cls: "overhead" },
        ...n.shares.map((s) => ({ label: `${s.slug}${s.strategy === "layers" ? ` (${s.layers} layers)` : ""}`,
          bytes: s.weights_bytes + s.kv_bytes, text: Live.bytes(s.weights_bytes + s.kv_bytes), colour: colour[s.slug] })),
      ].filter((p) => p.bytes > 0);
      return el("div", { class: `node-plan ${n.over_limit ? "over" : ""}`, "data-node": n.name },
        el("div", { class: "section-head" }, el("strong", {}, n.display_name),
          el("span", { class: n.over_limit ? "error" : "muted" }, `${Math.round(n.utilisation * 100)}% of ${Live.bytes(n.total_bytes)}${n.over_limit ? " — over its 92% limit" : `, ${Live.bytes(n.free_after_bytes)} free after`}`)),
        stacked(parts, n.total_bytes, [[0.92, "limit", "92%: limit"]]), legend(parts));
    }));

    document.getElementById("budget").replaceChildren(...plan.budget.map((b) =>
      el("li", {}, el("span", {}, b.label), el("span", {}, `${b.size_label} (${b.share_label})`))));
  }

  let pending = 0;
  async function update() {
    const ticket = ++pending;
    error.hidden = true;
    try {
      const plan = await Live.api("POST", Live.url("api-plan"), request());
      if (ticket === pending) render(plan);
    } catch (e) { error.textContent = e.message; error.hidden = false; }
  }

  form.addEventListener("change", update);
  document.getElementById("guide-set").addEventListener("click", (event) => {
    const wanted = new Set(event.target.dataset.slugs.split(","));
    form.querySelectorAll("input[name=models]").forEach((box) => { box.checked = wanted.has(box.value); });
    update();
  });
  document.getElementById("clear-set").addEventListener("click", () => {
    form.querySelectorAll("input[name=models]").forEach((box) => { box.checked = false; });
    update();
  });
  update();
})();
