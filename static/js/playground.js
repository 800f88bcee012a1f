// Playground: stream chat completions through the panel's /v1, one or two models side by side,
// with live first-token time and tokens/s beside the catalogue's expectations.
"use strict";

const Playground = (() => {
  const { el } = Live;
  const $ = (id) => document.getElementById(id);
  const form = $("playground-form");
  const pickers = [$("model-a"), $("model-b")];
  let catalogue = [];   // the catalogue API's models
  let instances = [];   // the cluster snapshot's instances
  let running = [];     // AbortControllers of the streams in flight

  // --- The model pickers --------------------------------------------------------------------

  // Ready models first, then everything else in the catalogue; values are catalogue slugs.
  function choices() {
    const state = new Map();
    for (const i of instances) {
      if (state.get(i.model_id) !== "ready") state.set(i.model_id, i.status);
    }
    const known = new Set();
    const entries = catalogue.map((m) => {
      const id = m.exo_model_id || m.repo_id;
      known.add(id);
      return { value: m.slug, label: m.display_name, status: state.get(id) || "not loaded" };
    });
    // A model loaded on exo that the catalogue does not know is still usable by its exo id.
    for (const [id, status] of state) {
      if (!known.has(id)) entries.push({ value: id, label: id, status });
    }
    const ready = entries.filter((e) => e.status === "ready");
    return [...ready, ...entries.filter((e) => e.status !== "ready")];
  }

  let shown = "";
  function renderPickers() {
    const entries = choices();
    const signature = JSON.stringify(entries);
    if (signature === shown) return;  // polls arrive every few seconds; keep an open list still
    shown = signature;
    pickers.forEach((select, index) => {
      const before = select.value;
      select.replaceChildren(...entries.map((e) =>
        el("option", { value: e.value, "data-status": e.status }, `${e.label} — ${e.status}`)));
      const fallback = entries.filter((e) => e.status === "ready")[index] || entries[0];
      select.value = entries.some((e) => e.value === before) ? before : (fallback?.value || "");
    });
  }

  async function loadModels() {
    try {
      const [models, cluster] = await Promise.all([
        Live.api("GET", Live.url("api-models")), Live.api("GET", Live.url("api-cluster"))]);
      catalogue = models;
      instances = cluster.instances || [];
      renderPickers();
    } catch (e) {
      Live.notify(`Could not list the models: ${e.message}`);
    }
    // Loads and unloads elsewhere show up here as they happen.
    Live.socket(Live.url("ws-cluster"), (message) => {
      if (message.type === "cluster" && message.cluster) {
        instances = message.cluster.instances || [];
        renderPickers();
      }
    });
  }

  // --- The request --------------------------------------------------------------------------

  function selectedModels() {
    return $("compare").checked ? pickers.map((p) => p.value) : [pickers[0].value];
  }

  // The body sent to /v1/chat/completions for one model.
  function requestBody(model) {
    const messages = [];
    const system = $("system").value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push({ role: "user", content: $("prompt").value });
    const body = { model, messages, stream: true };
    const temperature = parseFloat($("temperature").value);
    if (!Number.isNaN(temperature)) body.temperature = temperature;
    const maxTokens = parseInt($("max-tokens").value, 10);
    if (!Number.isNaN(maxTokens)) body.max_tokens = maxTokens;
    return body;
  }

  // --- View code ----------------------------------------------------------------------------

  // Single quotes keep everything literal in a POSIX shell; a ' itself is closed, escaped, reopened.
  const shellQuote = (text) => `'${text.replace(/'/g, "'\\''")}'`;

  function curlCode(body) {
    return [
      `curl -N ${shellQuote(`${location.origin}${Live.url("v1-chat-completions")}`)} \\`,
      `  -H "Authorization: Bearer $ARTHUR_TOKEN" \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -d ${shellQuote(JSON.stringify(body))}`,
    ].join("\n");
  }

  // JSON strings, lists and objects of strings are valid Python literals too.
  function pythonCode(body) {
    const args = [`    model=${JSON.stringify(body.model)},`,
      `    messages=${JSON.stringify(body.messages, null, 4).replace(/\n/g, "\n    ")},`];
    if (body.temperature !== undefined) args.push(`    temperature=${body.temperature},`);
    if (body.max_tokens !== undefined) args.push(`    max_tokens=${body.max_tokens},`);
    return [
      "import os",
      "",
      "from openai import OpenAI",
      "",
      `client = OpenAI(base_url=${JSON.stringify(`${location.origin}/v1`)}, api_key=os.environ["ARTHUR_TOKEN"])`,
      "stream = client.chat.completions.create(",
      ...args,
      "    stream=True,",
      ")",
      "for chunk in stream:",
      "    if chunk.choices:",
      '        print(chunk.choices[0].delta.content or "", end="", flush=True)',
      "print()",
    ].join("\n");
  }

  function renderCode() {
    if ($("code").hidden) return;
    const body = requestBody(pickers[0].value);
    $("code-curl").textContent = curlCode(body);
    $("code-python").textContent = pythonCode(body);
  }

  // --- One streaming column -----------------------------------------------------------------

  function column(model) {
    const node = $("column-template").content.firstElementChild.cloneNode(true);
    const part = (selector) => node.querySelector(selector);
    const entry = catalogue.find((m) => m.slug === model);
    part(".pg-model").textContent = entry ? entry.display_name : model;
    node.dataset.model = model;
    if (entry?.expected_tokens_per_second) {
      part("[data-expected=tps]").textContent = `guide: ${entry.expected_tokens_per_second}`;
    }
    if (entry?.first_token_seconds) {
      part("[data-expected=first-token]").textContent = `guide: ${entry.first_token_seconds} s`;
    }
    const answer = Answer.view(node);
    return {
      node,
      answer,
      state(text, cls = "") { const b = part(".pg-state"); b.textContent = text; b.className = `badge pg-state ${cls}`; },
      stat(name, text) { part(`[data-stat=${name}]`).textContent = text; },
      served(text) { part(".pg-served").textContent = text; },
      failed: false,
      error(text) { const p = part(".pg-error"); p.textContent = text; p.hidden = false; this.failed = true; },
      prefill(done, total) {
        const pct = total ? Math.round((done / total) * 100) : 0;
        part(".pg-prefill").hidden = false;
        part(".pg-prefill .bar").setAttribute("aria-valuenow", String(pct));
        part(".pg-prefill .bar span").style.width = `${pct}%`;
        part(".pg-prefill-text").textContent = `Reading the prompt: ${done} of ${total} tokens`;
      },
    };
  }

  // Stats from arrival times: first token since Send, tokens over the time since the first token.
  function meter(view) {
    const started = performance.now();
    let first = null, last = null, chunks = 0, usage = null;
    const show = () => {
      if (first === null) return;
      view.stat("first-token", `${((first - started) / 1000).toFixed(2)} s`);
      const tokens = usage ? usage.completion_tokens : chunks;  // chunks until usage says
      const seconds = (last - first) / 1000;
      if (seconds > 0 && tokens) view.stat("tps", (tokens / seconds).toFixed(1));
      if (usage) {
        view.stat("prompt-tokens", String(usage.prompt_tokens));
        view.stat("completion-tokens", String(usage.completion_tokens));
      }
    };
    return {
      token() { last = performance.now(); if (first === null) first = last; chunks += 1; show(); },
      usage(u) { last = last ?? performance.now(); usage = u; show(); },
    };
  }

  // Calls onLine(line) for every complete line of the body as it arrives.
  async function readLines(response, onLine) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const lines = buffer.split("\n");
      buffer = done ? "" : lines.pop();
      lines.forEach((line) => onLine(line.replace(/\r$/, "")));
      if (done) return;
    }
  }

  // One SSE line of exo's stream: a comment (keep-alive, prefill progress, stats) or data.
  function handleLine(line, view, stats) {
    if (line.startsWith(": prefill_progress ")) {
      const p = JSON.parse(line.slice(": prefill_progress ".length)).PrefillProgressChunk;
      if (p) view.prefill(p.processed_tokens, p.total_tokens);
      return;
    }
    if (!line.startsWith("data:")) return;
    const data = line.slice(5).trim();
    if (data === "[DONE]" || !data) return;
    const chunk = JSON.parse(data);
    if (chunk.error) { view.error(`exo failed mid-answer: ${chunk.error.message}`); return; }
    const delta = chunk.choices?.[0]?.delta || {};
    if (delta.reasoning_content) { view.answer.reasoning(delta.reasoning_content); stats.token(); }
    if (delta.content) { view.answer.content(delta.content); stats.token(); }
    if (chunk.usage) stats.usage(chunk.usage);
  }

  async function stream(model, view, controller) {
    view.state("waiting", "status-loading");
    const stats = meter(view);
    let response;
    try {
      response = await fetch(Live.url("v1-chat-completions"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json",
          "X-CSRFToken": document.querySelector("input[name=csrfmiddlewaretoken]").value },
        body: JSON.stringify(requestBody(model)),
        signal: controller.signal,
      });
      if (!response.ok) {
        let message = `${response.status} ${response.statusText}`;
        try { message = `${response.status}: ${(await response.json()).error.message}`; } catch (_) { /* not JSON */ }
        view.error(message);
        view.state("error", "status-failed");
        return;
      }
      view.served(`served by ${response.headers.get("X-Arthur-Model") || model}`);
      view.state("streaming", "status-loading");
      await readLines(response, (line) => handleLine(line, view, stats));
      // exo reports a failure mid-answer inside a 200 stream.
      if (view.failed) view.state("error", "status-failed"); else view.state("done", "status-ready");
    } catch (e) {
      if (controller.signal.aborted) { view.state("stopped"); return; }
      view.error(`The request failed: ${e.message}`);
      view.state("error", "status-failed");
    } finally {
      view.answer.finish();
    }
  }

  async function send(event) {
    event.preventDefault();
    const models = selectedModels();
    if (models.some((m) => !m)) { Live.notify("Pick a model first."); return; }
    const views = models.map(column);
    $("columns").replaceChildren(...views.map((v) => v.node));
    running = models.map(() => new AbortController());
    $("send").disabled = true;
    $("stop").disabled = false;
    renderCode();
    // Both columns stream at once: that is the point of comparing.
    await Promise.all(models.map((m, i) => stream(m, views[i], running[i])));
    running = [];
    $("send").disabled = false;
    $("stop").disabled = true;
  }

  // Aborting the fetch closes the request; the panel closes its request to exo, which cancels.
  function stop() {
    running.forEach((c) => c.abort());
  }

  function init() {
    form.addEventListener("submit", send);
    $("stop").addEventListener("click", stop);
    $("compare").addEventListener("change", () => { $("model-b-label").hidden = !$("compare").checked; });
    $("view-code").addEventListener("click", () => {
      $("code").hidden = !$("code").hidden;
      $("view-code").setAttribute("aria-expanded", String(!$("code").hidden));
      renderCode();
    });
    form.addEventListener("input", renderCode);
    form.addEventListener("change", renderCode);
    loadModels();
  }

  return { init, shellQuote, curlCode, pythonCode };
})();

Playground.init();
