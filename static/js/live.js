// Shared helpers for every page: websockets that reconnect, API calls, formatting, job rows.
"use strict";

const Live = (() => {
  const csrfToken = () => document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";

  // The panel's routes by name, as the page gives them (base.html: arthur_panel/url_templates.py).
  let routes = null;

  // A URL of the panel: url("api-job-cancel", { job_id: 5 }) is that route's template with
  // {job_id} filled in. A route or parameter that does not exist is a mistake in the script:
  // it throws.
  function url(name, params = {}) {
    routes ??= JSON.parse(document.getElementById("urls").textContent);
    if (!(name in routes)) throw new Error(`No route named ${name}`);
    const unused = new Set(Object.keys(params));
    const filled = routes[name].replace(/\{(\w+)\}/g, (_, key) => {
      if (!unused.delete(key)) throw new Error(`The route ${name} needs ${key}`);
      return encodeURIComponent(params[key]);
    });
    if (unused.size) throw new Error(`The route ${name} takes no ${[...unused].join(", ")}`);
    return filled;
  }

  // Close codes the server sends (cluster_app/jobs/consumers.py).
  const TOO_SLOW = 4008; // this page stopped reading: reconnecting fetches the current state
  const LOGGED_OUT = 4401; // no login, or it was revoked (logout, password change, token deleted)
  const NOT_FOUND = 4404;
  const TOO_MANY = 4429; // the user has too many sockets open in this panel

  // Opens a websocket (`path`: the Live.url of a socket route) and reopens it with backoff;
  // each (re)connect starts with a snapshot, so a page is "live" once the first message came.
  function socket(path, onMessage, onStatus = () => {}) {
    let delay = 500;
    let closedByUs = false;
    let ws;
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      let live = false;
      ws = new WebSocket(`${scheme}://${location.host}${path}`);
      ws.onmessage = (event) => {
        if (!live) { live = true; delay = 500; onStatus("live"); }
        onMessage(JSON.parse(event.data));
      };
      ws.onclose = (event) => {
        if (closedByUs) return;
        if (event.code === LOGGED_OUT) { onStatus("logged out"); location.reload(); return; }
        if (event.code === NOT_FOUND) { onStatus("not found"); return; }
        if (event.code === TOO_SLOW) { onStatus("catching up…"); open(); return; }
        // Too many: other tabs hold the sockets; wait for one to close rather than knock again.
        const tooMany = event.code === TOO_MANY;
        const wait = tooMany ? Math.max(delay, 15000) : delay;
        onStatus(tooMany ? "too many open pages" : "reconnecting…");
        setTimeout(open, wait);
        delay = Math.min(wait * 2, tooMany ? 120000 : 10000);
      };
    };
    open();
    return { close() { closedByUs = true; ws.close(); } };
  }

  // JSON API call; resolves with the body or rejects with the API's error message.
  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = null;
    try { data = await response.json(); } catch (_) { /* an empty or HTML body */ }
    if (!response.ok) {
      throw new Error(data?.error?.message || `${response.status} ${response.statusText}`);
    }
    return data;
  }

  const GIB = 1024 ** 3;

  // x with `digits` decimals as Python's format() writes it: the nearest, and a tie (exact in
  // binary, as 2.125 is) to the even digit, where toFixed rounds it up ("2.13" for "2.12").
  function fixed(x, digits) {
    // Every digit of x: a double of 1e-14 or more has at most 100 after the point.
    const exact = x.toFixed(100);
    const point = exact.indexOf(".");
    const kept = exact.slice(0, digits ? point + 1 + digits : point);
    const tie = /^50*$/.test(exact.slice(point + 1 + digits));
    return tie && Number(kept.at(-1)) % 2 === 0 ? kept : x.toFixed(digits);
  }

  // Bytes in GB the guide's way, exactly as cluster_app/nodes/units.format_gib writes them (the
  // `gb` filter of the templates): binary GB, whole from 100 GB, one decimal from 10 GB, two
  // below, trailing zeros dropped: "378 GB", "37.9 GB", "1.24 GB".
  function gb(n) {
    if (n === null || n === undefined) return "—";
    const gib = n / GIB;
    if (gib >= 100) return `${fixed(gib, 0)} GB`;
    return `${fixed(gib, gib >= 10 ? 1 : 2).replace(/0+$/, "").replace(/\.$/, "")} GB`;
  }

  // Sizes under a GB in B, KB or MB; from a GB up as gb() writes them.
  const UNITS = ["B", "KB", "MB"];
  function bytes(n) {
    if (n === null || n === undefined) return "—";
    if (Math.abs(n) >= GIB) return gb(n);
    let i = 0;
    while (Math.abs(n) >= 1024) { n /= 1024; i += 1; }
    return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${UNITS[i]}`;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    const s = Math.round(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  function rate(job) {
    if (job.speed === null || job.speed === undefined) return "";
    return job.unit === "bytes" ? `${bytes(job.speed)}/s` : `${job.speed.toFixed(2)} ${job.unit}/s`;
  }

  const ACTIVE = new Set(["queued", "running", "paused"]);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else if (key === "style") node.style.cssText = value;  // the CSP refuses a style attribute
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // Puts `nodes` in `parent` in place of its children, changing only what differs: an old node
  // equal to its new one stays, one that differs is brought in line. So a live region (aria-live)
  // announces what changed rather than the whole list at each update, and focus stays on a
  // button that did not change. Children match by data-key, else by position. Buttons and fields
  // are kept only when equal and keep their listeners: whatever a listener uses must show in its
  // button or in a data-key around it.
  function patch(parent, nodes) {
    const keyed = new Map([...parent.children].filter((c) => c.dataset.key).map((c) => [c.dataset.key, c]));
    nodes.forEach((node, i) => {
      const here = parent.childNodes[i];
      const key = node.dataset?.key;
      const byPosition = !key && here && !here.dataset?.key;
      const old = key ? keyed.get(key) : byPosition ? here : null;
      keyed.delete(key);
      const kept = old ? merge(old, node) : node;
      if (kept === here) return;
      if (byPosition) parent.replaceChild(kept, here); else parent.insertBefore(kept, here || null);
    });
    while (parent.childNodes.length > nodes.length) parent.lastChild.remove();
  }

  const REPLACED = new Set(["BUTTON", "INPUT", "SELECT", "TEXTAREA"]);

  // `old` made to look like `fresh` and returned, or `fresh` where they are different things.
  function merge(old, fresh) {
    if (old.isEqualNode(fresh)) return old;
    if (old.nodeType === Node.TEXT_NODE && fresh.nodeType === Node.TEXT_NODE) {
      old.data = fresh.data;
      return old;
    }
    if (old.nodeName !== fresh.nodeName || old.nodeType !== Node.ELEMENT_NODE || REPLACED.has(old.nodeName)) return fresh;
    for (const { name } of [...old.attributes]) {
      // An opened <details> stays open: the reader opened it.
      if (!fresh.hasAttribute(name) && !(name === "open" && old.nodeName === "DETAILS")) old.removeAttribute(name);
    }
    for (const { name, value } of fresh.attributes) {
      if (old.getAttribute(name) === value) continue;
      if (name === "style") old.style.cssText = value; else old.setAttribute(name, value);
    }
    patch(old, [...fresh.childNodes]);
    return old;
  }

  // A failed job's error code and error, else its latest message.
  function jobMessage(job) {
    const line = el("div", { class: "job-message small" });
    if (job.error) line.append(el("code", { class: "error-code" }, job.error_code || "error"), " ", job.error);
    else line.append(job.message || "");
    return line;
  }

  // One row for a job: title, state, progress bar, amounts, speed and ETA.
  function jobRow(job) {
    const pct = Math.round((job.progress || 0) * 100);
    const title = el("a", { href: job.url }, `${job.kind} #${job.id}`);
    const where = job.node ? ` · ${job.node.toUpperCase()}` : "";
    const bar = el("div", { class: `bar state-${job.state}`, role: "progressbar",
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct) },
      el("span", { style: `width:${pct}%` }));
    const numbers = [];
    if (job.total) {
      numbers.push(job.unit === "bytes" ? `${bytes(job.done)} of ${bytes(job.total)}` : `${job.done} of ${job.total} ${job.unit}`);
    }
    if (job.state === "running" && rate(job)) numbers.push(rate(job));
    if (job.state === "running" && job.eta_seconds !== null) numbers.push(`ETA ${duration(job.eta_seconds)}`);
    // In a live list, a change of state is read out whole; progress ticks are not.
    const row = el("li", { class: `job-row state-${job.state}`, "data-job-id": String(job.id), "data-key": String(job.id) },
      el("div", { class: "job-title", "aria-atomic": "true" }, title, el("span", { class: "muted" }, where),
        el("span", { class: `state state-${job.state}` }, job.state)),
      bar,
      el("div", { class: "job-numbers muted small", "aria-live": "off" }, `${pct}%`, numbers.length ? ` · ${numbers.join(" · ")}` : ""),
      jobMessage(job));
    if (ACTIVE.has(job.state) && job.control !== "cancel") {
      const cancel = el("button", { class: "link danger small", "data-cancel": String(job.id) }, "Cancel");
      cancel.addEventListener("click", () => api("POST", url("api-job-cancel", { job_id: job.id })).catch((e) => notify(e.message)));
      row.querySelector(".job-title").append(cancel);
    }
    return row;
  }

  // The page's one jobs socket, shared by every script on it and opened by the first to
  // subscribe (each socket counts against the user's limit, and every page has the jobs panel).
  // A subscriber is { snapshot(jobs), job(job), frame(message), status(text) }, each optional:
  // snapshot gets the recent jobs, newest first, at every (re)connect, and at once if the page
  // has them already; job gets each change of any job; frame each message of the feeds the
  // socket also carries (cluster_app/jobs/feeds.py: {type: "alerts", ...} for the bell), and
  // the latest of each type at once; status the socket's ("live", "reconnecting…", ...).
  const jobs = (() => {
    const KEPT = 100; // jobs kept for later subscribers, the newest: a long-open page stays small
    const subscribers = new Set();
    let recent = null; // id -> job: the last snapshot, kept current by the events since
    const frames = new Map(); // type -> the latest frame of each feed
    let status = "connecting…";
    let connection = null;
    // A copy: a subscriber may subscribe or leave while it is being told.
    const tell = (call) => [...subscribers].forEach(call);
    const newest = () => [...recent.values()].sort((a, b) => b.id - a.id);

    function receive(message) {
      if (message.type === "snapshot") {
        recent = new Map(message.jobs.map((job) => [job.id, job]));
        tell((s) => s.snapshot?.(message.jobs));
      } else if (message.type === "job") {
        recent.set(message.job.id, message.job);
        if (recent.size > KEPT) recent.delete(Math.min(...recent.keys()));
        tell((s) => s.job?.(message.job));
      } else {
        frames.set(message.type, message);
        tell((s) => s.frame?.(message));
      }
    }

    function subscribe(subscriber) {
      subscribers.add(subscriber);
      // With the feeds (cluster_app/jobs/feeds.py): scripts that open it without get jobs alone.
      connection ??= socket(`${url("ws-jobs")}?feeds=1`, receive, (text) => {
        status = text;
        tell((s) => s.status?.(text));
      });
      // After the caller's own code, as if from the socket: it has its handle by then.
      queueMicrotask(() => {
        if (!subscribers.has(subscriber)) return;
        subscriber.status?.(status);
        if (recent) subscriber.snapshot?.(newest());
        frames.forEach((message) => subscriber.frame?.(message));
      });
      return { close() { subscribers.delete(subscriber); } };
    }

    // Calls onJob(job) with one job's current state, then with each change of it. A job the
    // snapshot lacks (older than its jobs, or newer than it) is fetched, again after each
    // reconnect, which may have missed its changes; an event that comes first wins.
    function follow(id, onJob) {
      let asked = 0; // counts what was shown: a fetch answered after something newer is dropped
      return subscribe({
        snapshot(list) {
          const ticket = ++asked;
          const job = list.find((j) => j.id === id);
          if (job) { onJob(job); return; }
          api("GET", url("api-job", { job_id: id }))
            .then((fetched) => { if (ticket === asked) onJob(fetched); })
            .catch((e) => notify(e.message));
        },
        job(job) {
          if (job.id !== id) return;
          asked += 1;
          onJob(job);
        },
      });
    }

    return { subscribe, follow };
  })();

  // Shows one job's row in `box`, live, until it ends: then onEnd(job). Returns { close() }.
  function followJob(job, box, onEnd) {
    patch(box, [jobRow(job)]);
    const following = jobs.follow(job.id, (current) => {
      patch(box, [jobRow(current)]);
      if (ACTIVE.has(current.state)) return;
      following.close();
      onEnd(current);
    });
    return following;
  }

  // A subscriber to the jobs socket that keeps a list of job rows, newest first.
  function jobList(listEl, emptyEl, limit) {
    const shown = new Map();
    const render = () => {
      const sorted = [...shown.values()].sort((a, b) => b.id - a.id).slice(0, limit);
      patch(listEl, sorted.map(jobRow));
      if (emptyEl) emptyEl.hidden = sorted.length > 0;
    };
    return {
      snapshot(list) { shown.clear(); list.forEach((job) => shown.set(job.id, job)); render(); },
      job(job) { shown.set(job.id, job); render(); },
    };
  }

  // A visible message at the top of the page, for errors that have no form to sit next to.
  function notify(text) {
    const box = document.getElementById("notice");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(notify.timer);
    notify.timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  // Whether the user's role may do this ("runJobs", "operateExo"): base.html says, and the
  // scripts draw no button the API would refuse.
  const can = (what) => document.body.dataset[`can${what[0].toUpperCase()}${what.slice(1)}`] === "true";

  return { url, socket, jobs, api, notify, el, can, patch, gb, bytes, duration, jobRow, jobList, followJob, ACTIVE };
})();
