// The jobs panel on every page: recent jobs with live progress bars.
"use strict";
(() => {
  const list = Live.jobList(document.getElementById("job-rows"), document.getElementById("jobs-empty"), 8);
  const status = document.getElementById("jobs-live");
  Live.socket(Live.url("ws-jobs"), (message) => {
    if (message.type === "snapshot") list.snapshot(message.jobs);
    else if (message.type === "job") list.update(message.job);
  }, (text) => { status.textContent = text; status.dataset.state = text; });
})();
