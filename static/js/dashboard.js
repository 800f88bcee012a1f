// Dashboard: a Ping button per node starts a ping job on that node's worker.
"use strict";
document.querySelectorAll("button.ping").forEach((button) => {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await Live.api("POST", "/api/v1/jobs/", { kind: "ping", node: button.dataset.node, params: { count: 5, interval: 0.5 } });
    } catch (error) {
      Live.notify(`Could not start the ping: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
});
