// One job: live row, facts, log tail and result; pause, resume and cancel buttons.
"use strict";
(() => {
  const root = document.getElementById("job-detail");
  const id = Number(root.dataset.jobId);
  const error = document.getElementById("job-error");
  const FACTS = [["State", (j) => j.state], ["Node", (j) => (j.node || "—").toUpperCase()],
    ["Attempts", (j) => j.attempts], ["Created", (j) => j.created_at], ["Started", (j) => j.started_at || "—"],
    ["Finished", (j) => j.finished_at || "—"], ["Parameters", (j) => JSON.stringify(j.params)]];

  function render(job) {
    Live.patch(document.getElementById("job-row"), [Live.jobRow(job)]);
    document.getElementById("job-facts").replaceChildren(...FACTS.flatMap(([label, value]) => {
      const dt = document.createElement("dt"); dt.textContent = label;
      const dd = document.createElement("dd"); dd.textContent = value(job);
      return [dt, dd];
    }));
    document.getElementById("job-failure").hidden = !job.error;
    document.getElementById("job-error-code").textContent = job.error_code || "error";
    document.getElementById("job-error-text").textContent = job.error;
    document.getElementById("job-log").textContent = job.log_tail.length ? job.log_tail.join("\n") : "(no output yet)";
    const resultCard = document.getElementById("job-result-card");
    resultCard.hidden = !job.result || job.state !== "succeeded";
    if (!resultCard.hidden) document.getElementById("job-result").textContent = JSON.stringify(job.result, null, 2);
    root.querySelector("[data-action=pause]").disabled = !["queued", "running"].includes(job.state);
    root.querySelector("[data-action=resume]").disabled = job.state !== "paused";
    root.querySelector("[data-action=cancel]").disabled = !Live.ACTIVE.has(job.state);
  }

  Live.jobs.follow(id, render);
  root.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", async () => {
      error.hidden = true;
      try { render(await Live.api("POST", Live.url(`api-job-${button.dataset.action}`, { job_id: id }))); }
      catch (e) { error.textContent = e.message; error.hidden = false; }
    });
  });
})();
