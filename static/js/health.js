// Health: the checklist from the health API, "Run checks now" followed live, the guide's action
// plan, a server-rendered section refreshed as jobs end, and the doctor's checks of the deployment.
"use strict";
(() => {
  const { el, api, duration } = Live;
  const checksBox = document.getElementById("health-checks");
  const empty = document.getElementById("health-empty");
  const overall = document.getElementById("health-overall");
  const plan = document.getElementById("action-plan");
  const doctorBox = document.getElementById("doctor-checks");
  const LABEL = { pass: "pass", warn: "warn", fail: "fail", unavailable: "not available", unknown: "no results" };
  const REFRESH_MS = 30000;

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
    if (check.fix) body.append(el("p", { class: "hint fix small" }, el("strong", {}, "Fix: "), check.fix));
    body.append(evidence(check));
    return el("li", { class: `check status-${check.status}`, "data-check": check.name, "data-scope": check.scope,
      "data-key": `${check.scope}:${check.name}`, "aria-atomic": "true" },
      el("span", { class: `badge status-${check.status}` }, LABEL[check.status] || check.status), body);
  }

  function badge(box, status) {
    box.className = `badge status-${status}`;
    box.textContent = LABEL[status] || status;
  }

  // A section whose checks run as a job: its button starts one (or finds the running one), and
  // the job's row is followed live until it ends.
  function runner(name, url, done) {
    const button = document.getElementById(`${name}-run`);
    const jobBox = document.getElementById(`${name}-job`);
    const errorBox = document.getElementById(`${name}-error`);
    let following = null;
    function follow(job) {
      following?.close();
      button.disabled = true;
      following = Live.followJob(job, jobBox, () => { following = null; button.disabled = false; done(); });
    }
    button.addEventListener("click", async () => {
      errorBox.hidden = true;
      try {
        follow(await api("POST", url));
      } catch (e) {
        errorBox.textContent = e.message;
        errorBox.hidden = false;
        button.disabled = false;
      }
    });
    return { follow, busy: () => following !== null };
  }

  const checksRun = runner("health", Live.url("api-health"), () => { reload(); loadPlan(); });
  const doctorRun = runner("doctor", Live.url("api-doctor"), () => reloadDoctor());

  function render(report) {
    badge(overall, report.overall);
    empty.hidden = report.groups.length > 0;
    Live.patch(checksBox, report.groups.flatMap((group) => [
      el("h3", { "data-key": `${group.scope}:title` }, group.label),
      el("ul", { class: "checklist", "data-scope": group.scope, "data-key": group.scope }, ...group.checks.map(checkRow)),
    ]));
    document.getElementById("health-updated").textContent =
      report.checked_at ? `last checked ${new Date(report.checked_at).toLocaleString()}` : "";
    if (report.running_job && !checksRun.busy()) checksRun.follow(report.running_job);
  }

  function renderDoctor(report) {
    badge(document.getElementById("doctor-overall"), report.overall);
    document.getElementById("doctor-empty").hidden = report.checks.length > 0;
    doctorBox.replaceChildren(...report.checks.map(checkRow));
    if (report.running_job && !doctorRun.busy()) doctorRun.follow(report.running_job);
  }

  const reload = () => api("GET", Live.url("api-health")).then(render).catch((e) => Live.notify(e.message));
  const reloadDoctor = () => api("GET", Live.url("api-doctor")).then(renderDoctor).catch((e) => Live.notify(e.message));

  async function loadPlan() {
    try {
      const response = await fetch(plan.dataset.src, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`The action plan could not be loaded (${response.status}).`);
      plan.innerHTML = await response.text();  // our own template, escaped by Django
    } catch (e) {
      plan.querySelector(".empty, .error")?.replaceWith(el("p", { class: "error" }, e.message));
    }
  }

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
      if (job.kind === "health.run" && !checksRun.busy()) reload();
      if (job.kind === "doctor.run" && !doctorRun.busy()) reloadDoctor();
    },
  });

  render(JSON.parse(document.getElementById("health-data").textContent));
  renderDoctor(JSON.parse(document.getElementById("doctor-data").textContent));
  loadPlan();
  setInterval(() => {
    if (!checksRun.busy()) reload();
    if (!doctorRun.busy()) reloadDoctor();
    loadPlan();
  }, REFRESH_MS);
})();
