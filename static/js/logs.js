// Logs page: live lines from every node's follower, with filters, search, pause and download.
"use strict";
(() => {
  const SHOWN = 2000; // lines in the page at most: the DOM stays small however fast lines come
  const KEPT = 5000; // lines kept here for filters and download (the follower's ring per node)
  const { el } = Live;
  const $ = (id) => document.getElementById(id);
  const list = $("log-lines");
  const nodeSelect = $("log-node");
  const search = $("log-search");
  const guideButton = $("log-guide");
  const pauseButton = $("log-pause");
  const toggles = [...document.querySelectorAll(".toggles [data-class]")];
  const labels = Object.fromEntries(toggles.map((b) => [b.dataset.class, b.textContent]));
  const guide = new RegExp(guideButton.dataset.pattern); // as grep -E: case matters
  const followed = ($("log-followers").dataset.nodes || "").split(",").filter(Boolean);

  let kept = []; // received lines, oldest first
  let waiting = []; // received while paused
  let skipped = 0; // lines a burst sent past the browser (the API still has them)
  let paused = false;
  const lastSeq = new Map(); // node -> newest seq seen: a line in the backlog and a batch shows once

  const pressed = (button) => button.getAttribute("aria-pressed") === "true";
  const asExo = (r) => (r.time === null ? r.text : `[ ${r.time} | ${r.level.padEnd(8)} | ${r.source} ] ${r.text}`);
  const clock = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour12: false });

  function filters() {
    return { node: nodeSelect.value, text: search.value.trim().toLowerCase(), guide: pressed(guideButton),
      classes: toggles.filter(pressed).map((b) => b.dataset.class) };
  }

  function matches(r, f) {
    if (f.node && r.node !== f.node) return false;
    if (f.classes.length && !f.classes.some((c) => r.classes.includes(c))) return false;
    if (f.guide && !guide.test(asExo(r))) return false;
    return !f.text || r.text.toLowerCase().includes(f.text) || (r.source || "").toLowerCase().includes(f.text);
  }

  function lineElement(r) {
    const row = el("li", { class: ["log-line", ...r.classes.map((c) => `c-${c}`)].join(" "), "data-node": r.node },
      el("span", { class: "log-node", title: r.file }, r.node.toUpperCase()),
      el("time", { class: "log-time" }, r.time ? r.time.slice(11) : clock(r.ts)),
      el("span", { class: "log-level" }, r.level || ""),
      ...r.classes.filter((c) => c !== "error" && c !== "warning").map((c) => el("span", { class: `tag c-${c}` }, labels[c])),
      el("span", { class: "log-text" }, r.text));
    if (r.hint) row.append(el("div", { class: "log-hint", role: "note" }, r.hint));
    return row;
  }

  const atBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 40;

  function showStatus(shown) {
    $("log-empty").hidden = kept.length > 0;
    $("log-no-match").hidden = kept.length === 0 || shown > 0;
    const parts = [`${kept.length} lines kept`, `${shown} shown`];
    if (skipped) parts.push(`${skipped} lines of a burst skipped here (GET ${Live.url("api-logs")} has them)`);
    $("log-counts").textContent = parts.join(" · ");
    pauseButton.textContent = paused ? `Resume (${waiting.length} waiting)` : "Pause";
  }

  function render() {
    const f = filters();
    const shown = kept.filter((r) => matches(r, f)).slice(-SHOWN);
    list.replaceChildren(...shown.map(lineElement));
    list.scrollTop = list.scrollHeight;
    showStatus(list.childElementCount);
  }

  function append(lines) {
    const f = filters();
    const follow = atBottom();
    const fragment = document.createDocumentFragment();
    lines.filter((r) => matches(r, f)).slice(-SHOWN).forEach((r) => fragment.append(lineElement(r)));
    list.append(fragment);
    for (let extra = list.childElementCount - SHOWN; extra > 0; extra -= 1) list.firstElementChild.remove();
    if (follow) list.scrollTop = list.scrollHeight;
    showStatus(list.childElementCount);
  }

  const bounded = (lines) => (lines.length > KEPT ? lines.slice(-KEPT) : lines);

  function receive(lines) {
    const fresh = lines.filter((r) => {
      if (r.seq <= (lastSeq.get(r.node) || 0)) return false;
      lastSeq.set(r.node, r.seq);
      return true;
    });
    if (!fresh.length) return;
    if (paused) {
      waiting = bounded(waiting.concat(fresh));
      showStatus(list.childElementCount);
      return;
    }
    kept = bounded(kept.concat(fresh));
    append(fresh);
  }

  function showFollowers(beats) {
    const parts = followed.map((node) => {
      const beat = beats[node];
      if (!beat) return el("span", { class: "follower-missing" }, `${node.toUpperCase()}: no follower running (python manage.py follow_logs --node ${node})`);
      const states = Object.values(beat.files);
      const absent = states.filter((s) => s !== "following").length;
      return el("span", { class: "muted" }, `${node.toUpperCase()}: following ${states.length - absent} of ${states.length} files on ${beat.host}${absent ? ` (${absent} not there yet)` : ""}`);
    });
    $("log-followers").replaceChildren(...parts.flatMap((p, i) => (i ? [" · ", p] : [p])));
  }

  Live.socket(Live.url("ws-logs"), (message) => {
    if (message.type === "logs.snapshot") {
      // Redis lost its lines (a restart without persistence): numbering starts again.
      for (const [node, seq] of lastSeq) {
        const newest = Math.max(0, ...message.lines.filter((r) => r.node === node).map((r) => r.seq));
        if (newest < seq) lastSeq.set(node, 0);
      }
      showFollowers(message.followers);
      receive(message.lines);
      showStatus(list.childElementCount);
    } else if (message.type === "logs.lines") {
      skipped += message.skipped;
      receive(message.lines);
    }
  }, (text) => { $("logs-live").textContent = text; $("logs-live").dataset.state = text; });

  let typing;
  search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(render, 150); });
  nodeSelect.addEventListener("change", render);
  $("log-filters").addEventListener("submit", (event) => event.preventDefault());
  [...toggles, guideButton].forEach((button) => button.addEventListener("click", () => {
    button.setAttribute("aria-pressed", String(!pressed(button)));
    render();
  }));

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    if (!paused && waiting.length) {
      kept = bounded(kept.concat(waiting));
      const released = waiting;
      waiting = [];
      append(released);
    }
    showStatus(list.childElementCount);
  });

  $("log-download").addEventListener("click", () => {
    const f = filters();
    const text = kept.concat(waiting).filter((r) => matches(r, f)).map((r) => `${r.node.toUpperCase()} ${asExo(r)}\n`).join("");
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/plain" })),
      download: `exo-logs-${new Date().toISOString().slice(0, 19).replace(/:/g, "-")}.log` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });

  showStatus(0);
})();
