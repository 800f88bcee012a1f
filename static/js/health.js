// Health: the checklist from the health API, "Run checks now" followed live, and the guide's
// action plan, a server-rendered section refreshed as jobs end.
"use strict";
(() => {
  const { el, api, duration } = Live;
  const checksBox = document.getElementById("health-checks");
  const empty = document.getElementById("health-empty");
  const overall = document.getElementById("health-overall");
  const runButton = document.getElementById("health-run");
  const jobBox = document.getElementById("health-job");
  const errorBox = document.getElementById("health-error");
  const plan = document.getElementById("action-plan");
  const LABEL = { pass: "pass", warn: "warn", fail: "fail", unavailable: "not available", unknown: "no results" };
  const REFRESH_MS = 30000;
  let following = null;

  const age = (seconds) => (seconds < 5 ? "just now" : `${duration(seconds)} ago`);

  // The evidence a person reads first (the guide's node lines, ibv_devinfo's output, the
  // error), then everything as JSON.
  function evidence(check) {
    const e = check.evidence || {};
    const text = (e.lines || []).join("\n") || e.output || e.error || "";
    const details = el("details", { "aria-live": "off" }, el("summary", { class: "small" }, "Evidence"));
    if (text) details.append(el("pre", { class: "log evidence-text" }, text));
    details.append(el("pre", { class: "log small" }, JSON.stringify(e, null, 2)));
    return details;
  }

  // In the live checklist a check whose verdict or summary changed is read out whole; its age
  // and its evidence (raw figures that change at every run) are not.
  function checkRow(check) {
    const head = el("div", { class: "check-head" }, el("strong", {}, check.title),
      el("span", { class: "muted small", title: check.checked_at, "aria-live": "off" }, `checked ${age(check.age_seconds)}`));
    if (check.stale) head.append(el("span", { class: "badge stale" }, "stale"));
    const body = el("div", { class: "check-body" }, head, el("p", { class: "summary" }, check.summary));
    if (check.hint && check.status !== "pass") body.append(el("p", { class: "hint small" }, check.hint));
    body.append(evidence(check));
    return el("li", { class: `check status-${check.status}`, "data-check": check.name, "data-scope": check.scope,
      "data-key": `${check.scope}:${check.name}`, "aria-atomic": "true" },
      el("span", { class: `badge status-${check.status}` }, LABEL[check.status] || check.status), body);
  }

  function render(report) {
    overall.className = `badge status-${report.overall}`;
    overall.textContent = LABEL[report.overall] || report.overall;
    empty.hidden = report.groups.length > 0;
    Live.patch(checksBox, report.groups.flatMap((group) => [
      el("h3", { "data-key": `${group.scope}:title` }, group.label),
      el("ul", { class: "checklist", "data-scope": group.scope, "data-key": group.scope }, ...group.checks.map(checkRow)),
    ]));
    document.getElementById("health-updated").textContent =
      report.checked_at ? `last checked ${new Date(report.checked_at).toLocaleString()}` : "";
    if (report.running_job && !following) follow(report.running_job);
  }

  const reload = () => api("GET", Live.url("api-health")).then(render).catch((e) => Live.notify(e.message));

  async function loadPlan() {
    try {
      const response = await fetch(plan.dataset.src, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`The action plan could not be loaded (${response.status}).`);
      plan.innerHTML = await response.text();  // our own template, escaped by Django
    } catch (e) {
      plan.querySelector(".empty, .error")?.replaceWith(el("p", { class: "error" }, e.message));
    }
  }

  function follow(job) {
    following?.close();
    runButton.disabled = true;
    following = Live.followJob(job, jobBox, () => {
      following = null;
      runButton.disabled = false;
      reload();
      loadPlan();
    });
  }

  runButton.addEventListener("click", async () => {
    errorBox.hidden = true;
    try {
      follow(await api("POST", Live.url("api-health")));
    } catch (e) {
      errorBox.textContent = e.message;
      errorBox.hidden = false;
      runButton.disabled = false;
    }
  });

  // The plan's buttons: start a download or the cluster; the step says what happened.
  plan.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-post]");
    if (!button) return;
    const status = button.parentElement.querySelector(".plan-status");
    button.disabled = true;
    status.classList.remove("error");
    try {
      const answer = await api("POST", button.dataset.post, JSON.parse(button.dataset.body || "{}"));
      const jobs = answer.jobs || [answer];
      status.replaceChildren("Started: ", ...jobs.flatMap((job, i) => [i ? ", " : "",
        el("a", { href: job.url }, `${job.kind} #${job.id}${job.node ? ` on ${job.node.toUpperCase()}` : ""}`)]));
    } catch (e) {
      status.textContent = e.message;
      status.classList.add("error");
      button.disabled = false;
    }
  });

  // A job that ends (a download, a cluster start, anyone's health run) can change the plan.
  Live.jobs.subscribe({
    job(job) {
      if (Live.ACTIVE.has(job.state)) return;
      loadPlan();
      if (job.kind === "health.run" && !following) reload();
    },
  });

  render(JSON.parse(document.getElementById("health-data").textContent));
  loadPlan();
  setInterval(() => { if (!following) reload(); loadPlan(); }, REFRESH_MS);
})();
