// Jobs page: start a job with its parameters; the list below updates live.
"use strict";
(() => {
  Live.jobs.subscribe(Live.jobList(document.getElementById("job-list"), document.getElementById("job-list-empty"), 100));
  const form = document.getElementById("job-form");
  const error = document.getElementById("job-form-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    error.hidden = true;
    try {
      await Live.api("POST", Live.url("api-jobs"), {
        kind: data.get("kind"), node: data.get("node"),
        params: { count: Number(data.get("count")), interval: Number(data.get("interval")) },
      });
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  });
})();
