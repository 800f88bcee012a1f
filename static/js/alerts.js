// The Alerts page: firing and pending alerts, live from the alerts frames on the page's jobs
// socket, with a silence form for those who may (operators); lifting a silence.
"use strict";

(() => {
  const SILENCE_CHOICES = [[15, "15 min"], [60, "1 hour"], [240, "4 hours"], [1440, "1 day"], [10080, "1 week"]];
  const canSilence = Live.can("runJobs");

  async function silence(rule, subject, minutes) {
    try {
      await Live.api("POST", Live.url("api-alerts"), { rule, subject, minutes });
      location.reload();  // the silences table and the rows' marks are the server's
    } catch (error) {
      Live.notify(error.message);
    }
  }

  function silenceForm(alert) {
    const select = Live.el("select", { "aria-label": `Silence ${alert.name} for ${alert.subject}` },
      ...SILENCE_CHOICES.map(([minutes, label]) => Live.el("option", { value: String(minutes) }, label)));
    const button = Live.el("button", { type: "submit", class: "small" }, "Silence");
    const form = Live.el("form", { class: "inline-form silence-form" }, select, button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      silence(alert.rule, alert.subject, Number(select.value));
    });
    return form;
  }

  function row(alert) {
    const item = Live.el("li", { class: `alert-row sev-${alert.severity}${alert.silenced ? " silenced" : ""}`,
                                 "data-key": `${alert.rule} ${alert.subject}` },
      Live.el("strong", {}, `${alert.name}`),
      Live.el("span", { class: "muted" }, alert.subject ? ` · ${alert.subject}` : ""),
      Live.el("span", { class: `badge sev-${alert.severity}` }, alert.severity),
      alert.silenced ? Live.el("span", { class: "badge" }, "silenced") : "",
      Live.el("p", {}, alert.summary),
      alert.hint ? Live.el("p", { class: "hint small" }, alert.hint) : "",
      Live.el("p", { class: "muted small" },
        `since ${new Date(alert.fired_at || alert.pending_since).toLocaleString()}`));
    if (canSilence && !alert.silenced) item.append(silenceForm(alert));
    return item;
  }

  function render(list, empty, alerts) {
    Live.patch(list, alerts.map(row));
    empty.hidden = alerts.length > 0;
  }

  Live.jobs.subscribe({
    frame(state) {
      if (state.type !== "alerts") return;
      render(document.getElementById("alerts-firing"), document.getElementById("alerts-firing-empty"),
             state.alerts.filter((a) => a.state === "firing"));
      render(document.getElementById("alerts-pending"), document.getElementById("alerts-pending-empty"),
             state.alerts.filter((a) => a.state === "pending"));
      document.getElementById("alerts-counts").textContent =
        `${state.firing_total} firing (${state.firing} notifying), ${state.pending} pending, ${state.silenced} silenced`;
    },
    status(text) { document.getElementById("alerts-live").textContent = text; },
  });

  document.getElementById("alerts-silences").addEventListener("click", (event) => {
    const button = event.target.closest("[data-lift]");
    if (!button) return;
    const tr = button.closest("tr");
    silence(tr.dataset.rule, tr.dataset.subject, 0);
  });
})();
