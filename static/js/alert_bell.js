// The bell in the top bar: how many alerts fire now (silenced ones left out), live from the
// alerts frames on the page's jobs socket.
"use strict";
(() => {
  const bell = document.getElementById("alert-bell");
  const count = document.getElementById("alert-count");
  Live.jobs.subscribe({
    frame(message) {
      if (message.type !== "alerts") return;
      count.textContent = String(message.firing);
      bell.classList.toggle("firing", message.firing > 0);
      bell.title = message.firing
        ? `${message.firing} alert${message.firing === 1 ? "" : "s"} firing`
        : "No alerts firing";
    },
  });
})();
