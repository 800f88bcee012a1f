// Dashboard: the live cluster, re-rendered on every poll pushed over the cluster socket, under
// a strip that answers "is everything fine?" at a glance: alerts firing (from the alerts frames
// on the jobs socket, as the bell), nodes up, RDMA, models ready (each poll), tokens/s now.
"use strict";

(() => {
  const { el } = Live;
  const RATE_EVERY_MS = 5000;
  const seen = { snapshot: null, rate: null, alerts: null };

  // One chip: `state` is good, warn, bad or idle; `href` where to look closer.
  const chip = (name, state, text, href) =>
    el("li", { class: `chip state-${state}`, "data-chip": name, "data-key": name },
      href ? el("a", { href }, text) : text);

  function alertsChip(alerts) {
    if (!alerts) return chip("alerts", "idle", "Alerts: …", Live.url("alerts"));
    const firing = alerts.alerts.filter((a) => a.state === "firing" && !a.silenced);
    if (!firing.length) {
      const quiet = [alerts.pending && `${alerts.pending} pending`, alerts.silenced && `${alerts.silenced} silenced`].filter(Boolean);
      return chip("alerts", "good", `No alerts firing${quiet.length ? ` (${quiet.join(", ")})` : ""}`, Live.url("alerts"));
    }
    const critical = firing.some((a) => a.severity === "critical");
    const names = firing.slice(0, 2).map((a) => (a.subject ? `${a.name}: ${a.subject}` : a.name));
    const more = firing.length > names.length ? ` +${firing.length - names.length}` : "";
    return chip("alerts", critical ? "bad" : "warn",
      `${firing.length} alert${firing.length === 1 ? "" : "s"} firing: ${names.join("; ")}${more}`, Live.url("alerts"));
  }

  function nodesChip(snapshot) {
    const watched = snapshot.nodes.filter((n) => n.status !== "unmonitored");
    const up = watched.filter((n) => n.status !== "offline").length;
    const degraded = watched.some((n) => n.status === "degraded");
    const state = up < watched.length ? "bad" : degraded ? "warn" : "good";
    return chip("nodes", state, `Nodes up: ${up}/${watched.length}${degraded ? " (degraded)" : ""}`, "#nodes");
  }

  function rdmaChip(snapshot) {
    if (!snapshot.reachable) return chip("rdma", "idle", "RDMA: unknown (exo unreachable)", "#topology");
    if (!snapshot.rdma_expected) return chip("rdma", "idle", "RDMA: not expected", "#topology");
    return snapshot.rdma_linked ? chip("rdma", "good", "RDMA: on", "#topology")
      : chip("rdma", "bad", "RDMA: off, TCP only", "#topology");
  }

  function modelsChip(snapshot) {
    const count = (status) => snapshot.instances.filter((i) => i.status === status).length;
    const [ready, loading, failed] = [count("ready"), count("loading"), count("failed")];
    const extra = [loading && `${loading} loading`, failed && `${failed} failed`].filter(Boolean);
    const state = failed ? "bad" : ready ? "good" : loading ? "warn" : "idle";
    return chip("models", state, `Models ready: ${ready}${extra.length ? ` (${extra.join(", ")})` : ""}`, "#instances");
  }

  function rateChip(rate) {
    if (!rate) return chip("rate", "idle", "Tokens/s: …");
    const last = rate.last_answer ? ` · last answer ${rate.last_answer.tokens_per_second} on ${rate.last_answer.model}` : "";
    return chip("rate", rate.answers ? "good" : "idle",
      `Tokens/s now: ${rate.tokens_per_second}${last}`, Live.url("usage"));
  }

  function renderStrip() {
    const chips = [alertsChip(seen.alerts)];
    if (seen.snapshot) chips.push(nodesChip(seen.snapshot), rdmaChip(seen.snapshot), modelsChip(seen.snapshot));
    chips.push(rateChip(seen.rate));
    Live.patch(document.getElementById("strip"), chips);
  }

  async function refreshRate() {
    try { seen.rate = await Live.api("GET", Live.url("api-usage-now")); } catch { seen.rate = null; }
    renderStrip();
  }

  ClusterView.follow((snapshot) => {
    seen.snapshot = snapshot;
    renderStrip();
    ClusterView.totals(document.getElementById("totals"), snapshot);
    ClusterView.topology(document.getElementById("topology"), snapshot);
    ClusterView.nodes(document.getElementById("nodes"), snapshot);
    ClusterView.instances(document.getElementById("instances"), snapshot);
    document.getElementById("polled-at").textContent = `updated ${ClusterView.ago(snapshot.polled_at)}`;
  });
  Live.jobs.subscribe({
    frame(message) {
      if (message.type !== "alerts") return;
      seen.alerts = message;
      renderStrip();
    },
  });
  refreshRate();
  setInterval(refreshRate, RATE_EVERY_MS);
})();
