// Playground: saved conversations streamed through the panel's /v1, one model or several side
// by side (Compare), with live first-token time and tokens/s beside the catalogue's figures.
// Each conversation is a tree of messages kept by the conversations API: an edited question
// or a regenerated answer is a sibling, switchable as an alternative; the thread shown is the
// path from the root to the conversation's current leaf.
"use strict";

const Playground = (() => {
  const { el } = Live;
  const $ = (id) => document.getElementById(id);
  const form = $("playground-form");
  const pickers = [$("model-a"), $("model-b")];
  let catalogue = [];   // the catalogue API's models
  let instances = [];   // the cluster snapshot's instances
  let running = [];     // AbortControllers of the streams in flight
  let unsaved = null;   // the turn streaming now: saved at its end, or as the page is left
  let conversation = null;  // the open conversation, as the API answers it (null: a new chat)
  let liveColumns = new Map();  // message id -> the column that streamed it, kept as it is
  let presets = [];
  const emptyNote = $("thread-empty");  // taken out of the page while a thread shows

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

  function selectedModels() {
    return $("compare").checked ? pickers.map((p) => p.value) : [pickers[0].value];
  }

  // --- The tree -----------------------------------------------------------------------------

  const messages = () => conversation?.messages || [];
  const byId = (id) => messages().find((m) => m.id === id);
  const childrenOf = (id) => messages().filter((m) => m.parent === id);

  // The ids from the root to `id`, root first.
  function pathTo(id) {
    const ids = [];
    for (let m = byId(id); m && !ids.includes(m.id); m = byId(m.parent)) ids.push(m.id);
    return ids.reverse();
  }

  // The leaf reached from `id` by always taking the newest child: an alternative's own branch.
  function latestLeaf(id) {
    for (;;) {
      const children = childrenOf(id);
      if (!children.length) return id;
      id = children[children.length - 1].id;
    }
  }

  // A message's alternatives: its siblings, the answers of one Compare send counting as one.
  function alternatives(message) {
    const groups = [];
    for (const sibling of childrenOf(message.parent)) {
      const group = sibling.batch && groups.find((g) => g[0].batch === sibling.batch);
      if (group) group.push(sibling); else groups.push([sibling]);
    }
    return groups;
  }

  const thread = () => (conversation ? conversation.thread.map(byId) : []);

  // --- The request --------------------------------------------------------------------------

  // The body sent to /v1/chat/completions: the system prompt, then the thread up to and with
  // `upTo` (a user message), or the whole thread and the prompt being written.
  function requestBody(model, upTo = null) {
    const body = { model, messages: [], stream: true };
    const system = $("system").value.trim();
    if (system) body.messages.push({ role: "system", content: system });
    const turns = upTo ? pathTo(upTo.id).map(byId) : thread();
    for (const m of turns) {
      if (m.content) body.messages.push({ role: m.role, content: m.content });
    }
    if (!upTo) body.messages.push({ role: "user", content: $("prompt").value });
    Object.assign(body, parameters());
    return body;
  }

  function parameters() {
    const found = {};
    const temperature = parseFloat($("temperature").value);
    if (!Number.isNaN(temperature)) found.temperature = temperature;
    const maxTokens = parseInt($("max-tokens").value, 10);
    if (!Number.isNaN(maxTokens)) found.max_tokens = maxTokens;
    return found;
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

  // --- One answer's column ------------------------------------------------------------------

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
      model,
      state(text, cls = "") { const b = part(".pg-state"); b.textContent = text; b.className = `badge pg-state ${cls}`; },
      stat(name, text) { part(`[data-stat=${name}]`).textContent = text; },
      served(text) { part(".pg-served").textContent = text; },
      failed: null,
      error(text) { const p = part(".pg-error"); p.textContent = text; p.hidden = false; this.failed = text; },
      prefill(done, total) {
        const pct = total ? Math.round((done / total) * 100) : 0;
        part(".pg-prefill").hidden = false;
        part(".pg-prefill .bar").setAttribute("aria-valuenow", String(pct));
        part(".pg-prefill .bar span").style.width = `${pct}%`;
        part(".pg-prefill-text").textContent = `Reading the prompt: ${done} of ${total} tokens`;
      },
      // The prompt is read once the answer begins: its progress bar goes.
      prefillDone() { part(".pg-prefill").hidden = true; },
    };
  }

  const STATES = { complete: ["done", "status-ready"], stopped: ["stopped", ""], error: ["error", "status-failed"] };

  // A column showing a saved answer.
  function savedColumn(message) {
    const view = column(message.model);
    view.answer.restore(message.content, message.reasoning);
    view.state(...STATES[message.status]);
    view.served(`answered by ${message.model}`);
    if (message.error) view.error(message.error);
    if (message.first_token_seconds !== null) view.stat("first-token", `${message.first_token_seconds.toFixed(2)} s`);
    if (message.tokens_per_second !== null) view.stat("tps", message.tokens_per_second.toFixed(1));
    if (message.prompt_tokens !== null) view.stat("prompt-tokens", String(message.prompt_tokens));
    if (message.completion_tokens !== null) view.stat("completion-tokens", String(message.completion_tokens));
    return view.node;
  }

  // Stats from arrival times: first token since Send, tokens over the time since the first token.
  function meter(view) {
    const started = performance.now();
    let first = null, last = null, chunks = 0, usage = null;
    const figures = () => {
      const tokens = usage ? usage.completion_tokens : chunks;  // chunks until usage says
      const seconds = first === null ? 0 : (last - first) / 1000;
      return {
        first_token_seconds: first === null ? null : (first - started) / 1000,
        tokens_per_second: seconds > 0 && tokens ? tokens / seconds : null,
        prompt_tokens: usage ? usage.prompt_tokens : null,
        completion_tokens: usage ? usage.completion_tokens : (chunks || null),
        duration_seconds: ((last ?? performance.now()) - started) / 1000,
      };
    };
    const show = () => {
      if (first === null) return;
      const f = figures();
      view.stat("first-token", `${f.first_token_seconds.toFixed(2)} s`);
      if (f.tokens_per_second) view.stat("tps", f.tokens_per_second.toFixed(1));
      if (usage) {
        view.stat("prompt-tokens", String(usage.prompt_tokens));
        view.stat("completion-tokens", String(usage.completion_tokens));
      }
    };
    return {
      token() {
        last = performance.now();
        if (first === null) { first = last; view.prefillDone(); }
        chunks += 1;
        show();
      },
      usage(u) { last = last ?? performance.now(); usage = u; show(); },
      figures,
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

  // Streams one model's answer to `question` into `view`; resolves with what to save.
  async function stream(question, view, controller) {
    view.state("waiting", "status-loading");
    view.stats = meter(view);
    let status = "complete";
    try {
      const response = await fetch(Live.url("v1-chat-completions"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json",
          "X-CSRFToken": document.querySelector("input[name=csrfmiddlewaretoken]").value },
        body: JSON.stringify(requestBody(view.model, question)),
        signal: controller.signal,
      });
      if (!response.ok) {
        let message = `${response.status} ${response.statusText}`;
        try { message = `${response.status}: ${(await response.json()).error.message}`; } catch (_) { /* not JSON */ }
        view.error(message);
      } else {
        view.served(`served by ${response.headers.get("X-Arthur-Model") || view.model}`);
        view.state("streaming", "status-loading");
        await readLines(response, (line) => handleLine(line, view, view.stats));
      }
    } catch (e) {
      if (controller.signal.aborted) status = "stopped";
      else view.error(`The request failed: ${e.message}`);
    } finally {
      view.answer.finish();
    }
    // exo reports a failure mid-answer inside a 200 stream.
    if (view.failed) status = "error";
    view.state(...STATES[status]);
    return resultOf(view, status);
  }

  // A column's answer as the API saves it: what has arrived, its figures, how it ended.
  function resultOf(view, status) {
    return { content: view.answer.text, reasoning: view.answer.reasoningText, status,
      error: (view.failed || "").slice(0, 500), ...view.stats.figures() };
  }

  // --- Saving -------------------------------------------------------------------------------

  const conversationUrl = () => Live.url("api-conversation", { conversation_id: conversation.id });

  function settingsNow() {
    return { model: pickers[0].value, system_prompt: $("system").value, parameters: parameters() };
  }

  // The open conversation with the form's settings, made on the first question.
  async function saveSettings() {
    if (conversation) {
      conversation = await Live.api("PATCH", conversationUrl(), settingsNow());
    } else {
      conversation = await Live.api("POST", Live.url("api-conversations"), settingsNow());
      showAddress();
    }
  }

  // Saves a message of `target`, the open conversation unless another was opened meanwhile.
  async function saveMessage(fields, target = conversation) {
    const message = await Live.api("POST", Live.url("api-conversation-messages", {
      conversation_id: target.id }), fields);
    target.messages.push(message);
    if (fields.current !== false && target === conversation) {
      conversation.current_leaf = message.id;
      conversation.thread = pathTo(message.id);
    }
    return message;
  }

  // --- The thread ---------------------------------------------------------------------------

  function button(label, onClick, attrs = {}) {
    const node = el("button", { type: "button", class: "small", "data-action": "", ...attrs }, label);
    node.addEventListener("click", onClick);
    return node;
  }

  // "‹ 2/3 ›" between a message's alternatives; each leads to its own newest branch.
  function switcher(message) {
    const groups = alternatives(message);
    if (groups.length < 2) return [];
    const at = groups.findIndex((g) => g.includes(message));
    const go = (step) => () => pick(latestLeaf(groups[at + step][0].id));
    return [el("span", { class: "pg-switcher", "data-action": "" },
      button("‹", go(-1), { "aria-label": "Previous alternative", ...(at === 0 ? { disabled: "" } : {}) }),
      el("span", { class: "small pg-alternative" }, `${at + 1}/${groups.length}`),
      button("›", go(1), { "aria-label": "Next alternative", ...(at === groups.length - 1 ? { disabled: "" } : {}) }))];
  }

  function userBubble(message) {
    const node = $("user-template").content.firstElementChild.cloneNode(true);
    node.dataset.id = message.id;
    node.querySelector(".pg-user-text").textContent = message.content;
    node.querySelector(".pg-message-actions").append(
      ...switcher(message),
      button("Edit", () => edit(node, message)),
      button("Copy", (event) => navigator.clipboard.writeText(message.content).then(
        () => { event.target.textContent = "Copied"; }, () => { event.target.textContent = "Copy failed"; })));
    return node;
  }

  // The answer on the thread and, for a Compare send, the other models' answers beside it.
  function assistantTurn(message) {
    const members = message.batch ? alternatives(message).find((g) => g.includes(message)) : [message];
    const columns = members.map((m) => {
      const node = liveColumns.get(m.id) || savedColumn(m);
      node.dataset.id = m.id;
      node.classList.toggle("pg-current", m === message && members.length > 1);
      const actions = node.querySelector(".pg-message-actions");
      actions.querySelectorAll("[data-action]").forEach((old) => old.remove());
      if (m !== message) actions.append(button("Continue from this", () => pick(latestLeaf(m.id))));
      actions.append(button("Regenerate", () => regenerate(byId(m.parent))));
      return node;
    });
    return el("div", { class: "pg-turn" }, el("div", { class: "actions pg-turn-head" }, ...switcher(message)),
      el("div", { class: "pg-columns" }, ...columns));
  }

  function renderThread() {
    const nodes = thread().map((m) => (m.role === "user" ? userBubble(m) : assistantTurn(m)));
    $("thread").replaceChildren(...(nodes.length ? nodes : [emptyNote]));
  }

  function renderHead() {
    $("conversation-title").textContent = conversation ? conversation.title || "New chat" : "Playground";
    $("conversation-actions").hidden = !conversation;
    if (!conversation) return;
    $("pin").textContent = conversation.pinned ? "Unpin" : "Pin";
    $("pin").setAttribute("aria-pressed", String(conversation.pinned));
    const exportUrl = Live.url("api-conversation-export", { conversation_id: conversation.id });
    $("export-md").href = `${exportUrl}?format=md`;
    $("export-json").href = `${exportUrl}?format=json`;
  }

  function render() {
    renderHead();
    renderThread();
    highlightListed();
    renderCode();
  }

  async function pick(leafId) {
    try {
      conversation = await Live.api("PATCH", conversationUrl(), { current_leaf: leafId });
      render();
    } catch (e) {
      Live.notify(`Could not switch: ${e.message}`);
    }
  }

  // --- Asking -------------------------------------------------------------------------------

  function busy(on) {
    $("send").disabled = on;
    $("stop").disabled = !on;
    document.querySelectorAll("[data-action]").forEach((b) => { if (b.tagName === "BUTTON") b.disabled = on; });
  }

  // Each selected model answers `question` (a saved user message) side by side; the answers are
  // saved once every stream has ended (stopped or failed ones too), the first on the thread.
  async function answer(question) {
    const models = selectedModels();
    if (models.some((m) => !m)) { Live.notify("Pick a model first."); return; }
    const asked = conversation;  // the user may open another one while this one streams
    const batch = models.length > 1 ? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}` : "";
    conversation.thread = pathTo(question.id);
    renderThread();  // the thread up to the question
    const views = models.map(column);
    $("thread").append(el("div", { class: "pg-turn" }, el("div", { class: "pg-columns" }, ...views.map((v) => v.node))));
    running = models.map(() => new AbortController());
    busy(true);
    renderCode();
    // Every column streams at once: that is the point of comparing. The answers are saved in
    // the columns' order, so a compared turn shows them in that order again.
    unsaved = { asked, question, batch, views };
    const results = await Promise.all(views.map((view, i) => stream(question, view, running[i])));
    unsaved = null;
    const saved = [];
    for (const [i, view] of views.entries()) {
      try {
        const message = await saveMessage({ parent: question.id, role: "assistant", model: view.model,
          batch, current: i === 0, ...results[i] }, asked);
        liveColumns.set(message.id, view.node);
        saved.push(message);
      } catch (e) {
        Live.notify(`The answer could not be saved: ${e.message}`);
      }
    }
    running = [];
    busy(false);
    loadConversations();
    if (conversation !== asked) return;
    // The server's view of it: the title it gave the first question, the time it changed.
    try {
      conversation = await Live.api("GET", conversationUrl());
    } catch (e) {
      Live.notify(`Could not reload the conversation: ${e.message}`);
    }
    if (saved.length) render();
  }

  async function ask(parentId, content) {
    try {
      await saveSettings();
      const question = await saveMessage({ parent: parentId, role: "user", content });
      await answer(question);
    } catch (e) {
      Live.notify(`Could not send: ${e.message}`);
      busy(false);
    }
  }

  async function send(event) {
    event.preventDefault();
    if (selectedModels().some((m) => !m)) { Live.notify("Pick a model first."); return; }
    const leaf = conversation ? byId(conversation.current_leaf) : null;
    // After an answer comes the next question; a question left unanswered gets a sibling.
    const parent = leaf ? (leaf.role === "assistant" ? leaf.id : leaf.parent) : null;
    const content = $("prompt").value;
    $("prompt").value = "";
    await ask(parent, content);
  }

  async function regenerate(question) {
    try {
      await saveSettings();
      await answer(question);
    } catch (e) {
      Live.notify(`Could not regenerate: ${e.message}`);
    }
  }

  // Edit a question in place; submitting asks it as a new sibling, the old branch kept.
  function edit(node, message) {
    const box = el("textarea", { rows: "3", "aria-label": "Edit message" });
    box.value = message.content;
    const text = node.querySelector(".pg-user-text");
    const actions = node.querySelector(".pg-message-actions");
    const before = [...actions.children];
    text.replaceChildren(box);
    actions.replaceChildren(
      button("Submit edit", () => { if (box.value.trim()) ask(message.parent, box.value); }, { class: "small primary" }),
      button("Cancel", () => { text.textContent = message.content; actions.replaceChildren(...before); }));
    box.focus();
  }

  // What the browser still sends for a page being left (keepalive requests), for them all.
  const KEEPALIVE_BYTES = 60000;

  // Leaving the page mid-answer (a reload, a link, the tab closed) ends its streams: what has
  // arrived is saved as stopped, by requests the browser finishes once the page is gone. They
  // may carry 64 KB in all, so a long answer keeps its beginning.
  function saveOnLeave() {
    if (!unsaved) return;
    const { asked, question, batch, views } = unsaved;
    unsaved = null;
    const url = Live.url("api-conversation-messages", { conversation_id: asked.id });
    const room = Math.floor(KEEPALIVE_BYTES / views.length);
    views.forEach((view, i) => {
      const fields = { parent: question.id, role: "assistant", model: view.model, batch,
        current: i === 0, ...resultOf(view, "stopped"), error: "The page was left before the answer ended." };
      let body = JSON.stringify(fields);
      while (new TextEncoder().encode(body).length > room) {
        fields.reasoning = fields.reasoning.slice(0, Math.floor(fields.reasoning.length / 2));
        fields.content = fields.content.slice(0, Math.floor(fields.content.length * 0.8));
        body = JSON.stringify(fields);
      }
      fetch(url, { method: "POST", keepalive: true, credentials: "same-origin", body,
        headers: { "Content-Type": "application/json",
          "X-CSRFToken": document.querySelector("input[name=csrfmiddlewaretoken]").value } });
    });
  }

  // Aborting the fetch closes the request; the panel closes its request to exo, which cancels.
  function stop() {
    running.forEach((c) => c.abort());
  }

  // --- Conversations ------------------------------------------------------------------------

  function showAddress() {
    const address = conversation ? Live.url("playground-conversation", { conversation_id: conversation.id }) : Live.url("playground");
    if (location.pathname + location.search !== address) history.replaceState(null, "", address);
  }

  function fillForm() {
    const p = conversation.parameters || {};
    if (conversation.model && [...pickers[0].options].some((o) => o.value === conversation.model)) {
      pickers[0].value = conversation.model;
    }
    $("system").value = conversation.system_prompt;
    if (p.temperature !== null && p.temperature !== undefined) $("temperature").value = p.temperature;
    if (p.max_tokens) $("max-tokens").value = p.max_tokens;
  }

  async function open(id) {
    try {
      conversation = await Live.api("GET", Live.url("api-conversation", { conversation_id: id }));
    } catch (e) {
      Live.notify(`Could not open the conversation: ${e.message}`);
      conversation = null;
    }
    liveColumns = new Map();
    if (conversation) fillForm();
    showAddress();
    render();
  }

  function newChat() {
    conversation = null;
    liveColumns = new Map();
    showAddress();
    render();
    $("prompt").focus();
  }

  let listed = [];
  async function loadConversations() {
    const q = $("conversation-search").value.trim();
    try {
      const page = await Live.api("GET", `${Live.url("api-conversations")}${q ? `?q=${encodeURIComponent(q)}` : ""}`);
      listed = page.results;
    } catch (e) {
      Live.notify(`Could not list the conversations: ${e.message}`);
      return;
    }
    $("conversations").replaceChildren(...listed.map((c) => {
      const link = el("a", { href: Live.url("playground-conversation", { conversation_id: c.id }), "data-id": String(c.id) },
        c.pinned ? el("span", { class: "pg-pinned", title: "Pinned" }, "📌 ") : "", c.title || "New chat");
      link.addEventListener("click", (event) => { event.preventDefault(); open(c.id); });
      return el("li", {}, link);
    }));
    $("conversations-empty").hidden = listed.length > 0;
    highlightListed();
  }

  function highlightListed() {
    for (const link of $("conversations").querySelectorAll("a")) {
      const current = conversation && link.dataset.id === String(conversation.id);
      link.classList.toggle("current", Boolean(current));
      if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
  }

  async function change(fields) {
    try {
      conversation = await Live.api("PATCH", conversationUrl(), fields);
      render();
      loadConversations();
    } catch (e) {
      Live.notify(e.message);
    }
  }

  function rename() {
    const title = $("conversation-title");
    const box = el("input", { type: "text", "aria-label": "Title", maxlength: "200" });
    box.value = conversation.title;
    const save = () => change({ title: box.value });
    const ok = button("Save title", save, { class: "small primary" });
    box.addEventListener("keydown", (event) => { if (event.key === "Enter") save(); if (event.key === "Escape") renderHead(); });
    title.replaceChildren(box, " ", ok);
    box.focus();
  }

  async function remove() {
    if (!confirm(`Delete "${conversation.title || "this conversation"}" and all its messages?`)) return;
    try {
      await Live.api("DELETE", conversationUrl());
    } catch (e) {
      Live.notify(e.message);
      return;
    }
    newChat();
    loadConversations();
  }

  // --- System-prompt presets ----------------------------------------------------------------

  async function loadPresets() {
    try {
      presets = await Live.api("GET", Live.url("api-presets"));
    } catch (e) {
      Live.notify(`Could not list the presets: ${e.message}`);
      return;
    }
    $("preset").replaceChildren(el("option", { value: "" }, "—"),
      ...presets.map((p) => el("option", { value: String(p.id) }, p.mine ? `${p.name} (mine)` : p.name)));
    $("delete-preset").hidden = true;
  }

  function choosePreset() {
    const preset = presets.find((p) => String(p.id) === $("preset").value);
    $("delete-preset").hidden = !preset?.mine;
    if (preset) $("system").value = preset.prompt;
    renderCode();
  }

  async function savePreset() {
    const prompt = $("system").value;
    if (!prompt.trim()) { Live.notify("Write a system prompt first."); return; }
    const name = window.prompt("Name of the preset");
    if (!name) return;
    try {
      const made = await Live.api("POST", Live.url("api-presets"), { name, prompt });
      await loadPresets();
      $("preset").value = String(made.id);
      choosePreset();
    } catch (e) {
      Live.notify(e.message);
    }
  }

  async function deletePreset() {
    const preset = presets.find((p) => String(p.id) === $("preset").value);
    if (!preset || !confirm(`Delete the preset "${preset.name}"?`)) return;
    try {
      await Live.api("DELETE", Live.url("api-preset", { preset_id: preset.id }));
    } catch (e) {
      Live.notify(e.message);
    }
    loadPresets();
  }

  async function init() {
    form.addEventListener("submit", send);
    $("stop").addEventListener("click", stop);
    window.addEventListener("pagehide", saveOnLeave);
    $("compare").addEventListener("change", () => { $("model-b-label").hidden = !$("compare").checked; });
    $("view-code").addEventListener("click", () => {
      $("code").hidden = !$("code").hidden;
      $("view-code").setAttribute("aria-expanded", String(!$("code").hidden));
      renderCode();
    });
    form.addEventListener("input", renderCode);
    form.addEventListener("change", renderCode);
    $("new-chat").addEventListener("click", newChat);
    let searching = null;
    $("conversation-search").addEventListener("input", () => {
      clearTimeout(searching);
      searching = setTimeout(loadConversations, 250);
    });
    $("rename").addEventListener("click", rename);
    $("pin").addEventListener("click", () => change({ pinned: !conversation.pinned }));
    $("delete-conversation").addEventListener("click", remove);
    $("preset").addEventListener("change", choosePreset);
    $("save-preset").addEventListener("click", savePreset);
    $("delete-preset").addEventListener("click", deletePreset);
    loadPresets();
    await Promise.all([loadModels(), loadConversations()]);
    // The conversation in the address, else the most recently updated one.
    const wanted = $("playground").dataset.conversation || new URLSearchParams(location.search).get("c");
    const recent = [...listed].sort((a, b) => b.updated_at.localeCompare(a.updated_at))[0];
    if (wanted || recent) await open(wanted || recent.id); else render();
  }

  return { init, shellQuote, curlCode, pythonCode };
})();

Playground.init();
