// Model benchmarks: start one and follow its job live; the selected result per placement
// against the guide's tokens/s (meets / near / misses), plots of generation and prefill speed
// by prompt length and of RDMA over TCP against the guide's 2-3x; the history, by model.
"use strict";
(() => {
  const { el, api } = Live;
  const data = JSON.parse(document.getElementById("bench-data").textContent);
  const form = document.getElementById("bench-form");
  const jobBox = document.getElementById("bench-job");
  const errorBox = document.getElementById("bench-error");
  const historyModel = document.getElementById("bench-history-model");
  const VERDICT = { meets: "meets the guide", near: "near the guide", misses: "misses the guide" };
  let benchmarks = data.benchmarks;
  let selected = data.selected;
  let following = null;

  const showError = (text) => { errorBox.textContent = text; errorBox.hidden = !text; };
  const num = (v, digits = 0) => (v === null || v === undefined ? "—"
    : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits }));
  const tps = (v) => (v === null || v === undefined ? "—" : `${num(v, v < 100 ? 1 : 0)} tok/s`);
  const seconds = (v) => (v === null || v === undefined ? "—" : `${num(v, v < 1 ? 3 : 2)} s`);
  const dollars = (v) => (v === null || v === undefined ? "—" : `$${num(v, v < 1 ? 4 : 2)}`);
  const percent = (v) => `${num(v * 100, 1)}%`;
  const badge = (v) => (v ? el("span", { class: `badge verdict-${v}` }, VERDICT[v] || v) : "");
  const lengths = (text) => text.split(/[\s,]+/).filter(Boolean).map(Number);

  function summaryOf(b) {
    const v = b.summary.verdict;
    const job = b.job ? el("a", { href: Live.url("job", { job_id: b.job.id }) }, `job #${b.job.id}`) : "no job";
    return [
      el("p", { class: "muted" }, `${b.slug || b.model_id} · ${b.mode} · prompts ${b.prompt_lengths.join(", ")} × answers `,
        `${b.generation_lengths.join(", ")} × ${b.runs_per_cell} run(s) · $${b.electricity_usd_per_kwh}/kWh · `,
        new Date(b.created_at).toLocaleString(), " · ", job, b.job ? ` (${b.job.state})` : "", " · ",
        el("a", { href: Live.url("api-benchmark-csv", { benchmark_id: b.id }), id: "bench-csv" }, "CSV")),
      el("p", { id: "bench-verdict" }, v.placement
        ? `Best: ${tps(v.generation_tps)} on ${v.placement}; the guide says ${tps(v.expected_tps)} ` : "No run finished.",
        v.placement ? badge(v.verdict) : ""),
    ];
  }

  function placementRow(p) {
    return el("tr", { "data-placement": p.placement },
      el("td", {}, p.label), el("td", {}, String(p.nodes)),
      el("td", {}, tps(p.generation_tps), " ", badge(p.verdict)), el("td", { class: "muted" }, tps(p.expected_tps)),
      el("td", {}, tps(p.prefill_tps)), el("td", {}, seconds(p.first_token_seconds)),
      el("td", {}, Charts.bytes(p.peak_memory_bytes)), el("td", {}, p.joules_per_token === null ? "—" : num(p.joules_per_token, 3)),
      el("td", {}, dollars(p.cost_per_million_usd)), el("td", {}, String(p.runs)));
  }

  function guideNotes(s) {
    const items = [
      ...s.rdma_ratios.map((r) => el("li", {}, `RDMA over TCP, ${r.sharding} on ${r.nodes} nodes: ${num(r.ratio, 2)}× `,
        `(guide: ${r.guide[0]}-${r.guide[1]}×, ${r.against_guide})`)),
      ...s.overheads.map((o) => el("li", {}, `Parallelism overhead of ${o.placement} against one node: ${percent(o.overhead)} `,
        `(guide: ${percent(o.guide[0])}-${percent(o.guide[1])}, ${o.against_guide})`)),
    ];
    return items.length ? [el("ul", { class: "small" }, ...items)] : [];
  }

  // A chart of prompt length (log) against `field` of each placement's curve, with the guide's
  // figure as a dashed line over the same lengths.
  function speedChart(label, field, b) {
    const box = el("div", { class: "chart-box" });
    const curves = b.summary.curves;
    const lists = curves.map((c) => c.points.filter((p) => p[field] > 0).map((p) => [p.prompt_length, p[field]]));
    const series = curves.map((c, i) => ({ label: c.label, scale: "y", format: tps, color: Charts.color(i), points: true }));
    const xs = [...new Set(lists.flat().map(([x]) => x))];
    if (b.expected_tokens_per_second) {
      lists.push(xs.map((x) => [x, b.expected_tokens_per_second]));
      series.push({ label: `guide: ${tps(b.expected_tokens_per_second)} (generation)`, scale: "y", format: tps,
        color: Charts.color(3), dash: [6, 4], points: xs.length < 2 });  // one length: a dot, no line
    }
    requestAnimationFrame(() => Charts.chart(box, {
      label, series, x: { label: "prompt tokens", format: (v) => num(v) },
      axes: [{ scale: "y", format: (v) => num(v) }],
    }, Charts.align(lists)));
    return el("figure", { class: "plot-box", "data-chart": field }, el("figcaption", {}, label), box);
  }

  function ratioChart(b) {
    const box = el("div", { class: "chart-box" });
    const lines = b.summary.ratio_curves;
    const lists = lines.map((l) => l.points.map((p) => [p.prompt_length, p.ratio]));
    const xs = [...new Set(lists.flat().map(([x]) => x))];
    const band = b.summary.guide.rdma_speedup;
    const times = (v) => `${num(v, 2)}×`;
    const series = [
      ...lines.map((l, i) => ({ label: `${l.sharding}, ${l.nodes} nodes`, scale: "y", format: times, color: Charts.color(i), points: true })),
      ...band.map((v) => ({ label: `guide: ${v}×`, scale: "y", format: times, color: Charts.color(3), dash: [6, 4], points: xs.length < 2 })),
    ];
    band.forEach((v) => lists.push(xs.map((x) => [x, v])));
    requestAnimationFrame(() => Charts.chart(box, {
      label: "RDMA over TCP", series, x: { label: "prompt tokens", format: (v) => num(v) },
      scales: { y: { range: (u, min, max) => [0, Math.max(max, band[1]) * 1.1] } }, axes: [{ scale: "y", format: times }],
    }, Charts.align(lists)));
    return el("figure", { class: "plot-box", "data-chart": "ratio" }, el("figcaption", {}, "RDMA over TCP: generation speed ratio against the guide's 2-3×"), box);
  }

  function renderSelected() {
    const b = selected;
    document.getElementById("bench-empty").hidden = Boolean(b);
    const table = document.getElementById("bench-placements");
    table.hidden = !b;
    document.getElementById("bench-summary").replaceChildren(...(b ? summaryOf(b) : []));
    table.querySelector("tbody").replaceChildren(...(b ? b.summary.placements.map(placementRow) : []));
    document.getElementById("bench-guide").replaceChildren(...(b ? guideNotes(b.summary) : []));
    const plots = b && b.summary.curves.length ? [
      speedChart("Generation speed by prompt length", "generation_tps", b),
      speedChart("Prefill speed by prompt length", "prefill_tps", b),
      ...(b.summary.ratio_curves.length ? [ratioChart(b)] : []),
    ] : [];
    document.getElementById("bench-plots").replaceChildren(...plots);
    renderHistory();
  }

  function historyRow(b) {
    const v = b.verdict;
    const row = el("tr", { "data-benchmark": String(b.id), class: selected && selected.id === b.id ? "selected" : "" },
      el("td", {}, new Date(b.created_at).toLocaleString()), el("td", {}, b.slug || b.model_id), el("td", {}, b.mode),
      el("td", { class: "small" }, `${b.prompt_lengths.join(", ")} × ${b.generation_lengths.join(", ")} × ${b.runs_per_cell}`),
      el("td", {}, v.placement ? `${tps(v.generation_tps)} (${v.placement})` : "—"), el("td", {}, badge(v.verdict)),
      el("td", {}, b.job ? el("a", { href: Live.url("job", { job_id: b.job.id }) }, `#${b.job.id} ${b.job.state}`) : "—"),
      el("td", {}, el("a", { href: Live.url("api-benchmark-csv", { benchmark_id: b.id }) }, "CSV")));
    row.addEventListener("click", (event) => { if (event.target.tagName !== "A") select(b.id); });
    return row;
  }

  function renderHistory() {
    const model = historyModel.value;
    const shown = benchmarks.filter((b) => !model || b.slug === model);
    document.querySelector("#bench-history tbody").replaceChildren(...shown.map(historyRow));
    document.getElementById("bench-history-empty").hidden = shown.length > 0;
  }

  // The newest answer asked for wins: one asked earlier may come back later, older.
  let asked = 0;
  function select(id) {
    const ticket = ++asked;
    return api("GET", Live.url("api-benchmark", { benchmark_id: id }))
      .then((b) => { if (ticket === asked) { selected = b; renderSelected(); } })
      .catch((e) => showError(e.message));
  }

  async function reload(id) {
    try {
      benchmarks = await api("GET", Live.url("api-benchmarks"));
      const target = id ?? benchmarks[0]?.id;
      if (target !== undefined) await select(target);
    } catch (e) { showError(e.message); }
  }

  // While it runs, the result fills in as runs are recorded (fetched at most every few
  // seconds); at its end, the history and the result are read once more.
  const REFRESH_MS = 3000;
  let watching = null;
  function follow(job, id) {
    following?.close();
    watching?.close();
    if (form) form.querySelector("button").disabled = true;
    let shownDone = job.done;
    let lastFetch = 0;
    watching = Live.jobs.follow(job.id, (current) => {
      if (current.done === shownDone || Date.now() - lastFetch < REFRESH_MS) return;
      shownDone = current.done;
      lastFetch = Date.now();
      select(id);
    });
    following = Live.followJob(job, jobBox, (ended) => {
      following = null;
      watching?.close();
      watching = null;
      if (form) form.querySelector("button").disabled = false;
      if (ended.state === "failed") showError(`The benchmark failed: ${ended.error}`);
      reload(id);
    });
  }

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const fields = new FormData(form);
    try {
      const started = await api("POST", Live.url("api-benchmarks"), {
        model: fields.get("model"), mode: fields.get("mode"), runs: Number(fields.get("runs")),
        prompt_lengths: lengths(fields.get("prompt_lengths")), generation_lengths: lengths(fields.get("generation_lengths")),
      });
      benchmarks = [started, ...benchmarks];
      renderHistory();
      follow(started.job, started.id);
    } catch (e) {
      showError(e.message);
    }
  });
  historyModel.addEventListener("change", renderHistory);

  renderSelected();
  if (data.running_job) follow(data.running_job, data.running_job.params.benchmark);
})();
