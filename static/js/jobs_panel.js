// The jobs panel on every page: recent jobs with live progress bars.
"use strict";
(() => {
  const status = document.getElementById("jobs-live");
  Live.jobs.subscribe({
    ...Live.jobList(document.getElementById("job-rows"), document.getElementById("jobs-empty"), 8),
    status(text) { status.textContent = text; status.dataset.state = text; },
  });
})();
