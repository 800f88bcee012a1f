// The Keys page: list the keys with their limits' use, make one (its secret shown once, with a
// copy button), change a key's limits, revoke.
"use strict";

(() => {
  const { el, api, url } = Live;
  const allUsers = JSON.parse(document.getElementById("key-all-users").textContent);
  const limitKinds = JSON.parse(document.getElementById("key-limit-kinds").textContent);
  const form = document.getElementById("key-form");
  const error = document.getElementById("key-error");
  const rows = document.querySelector("#key-list tbody");
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
  // A limit's input: a whole number, or empty for none (null).
  const limitValue = (input) => (input.value.trim() === "" ? null : Number(input.value));

  function limitsCell(key) {
    const list = el("ul", { class: "limits-used" }, ...key.usage.map((use) =>
      el("li", { "data-kind": use.kind },
        `${use.name}: ${use.used} / ${use.allowed ?? "—"}`,
        use.allowed ? el("meter", { min: "0", max: String(use.allowed), value: String(Math.min(use.used, use.allowed)),
                                   high: String(use.allowed * 0.8), optimum: "0" }) : "")));
    if (key.state === "revoked") return el("td", {}, list);
    const edit = el("button", { type: "button", class: "small" }, "Edit limits");
    const inputs = limitKinds.map(([kind, label]) => el("input", {
      type: "number", min: "1", step: "1", name: kind, "aria-label": label,
      value: key[kind] === null ? "" : String(key[kind]) }));
    const save = el("button", { type: "submit", class: "small primary" }, "Save");
    const editor = el("form", { class: "limits-edit", hidden: "" },
      ...limitKinds.map(([, label], i) => el("label", {}, label, inputs[i])), save);
    edit.addEventListener("click", () => { editor.hidden = !editor.hidden; });
    editor.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = Object.fromEntries(limitKinds.map(([kind], i) => [kind, limitValue(inputs[i])]));
      try {
        await api("PATCH", url("api-key", { key_id: key.id }), body);
        load();
      } catch (e) { Live.notify(e.message); }
    });
    return el("td", {}, list, edit, editor);
  }

  function row(key) {
    const revoke = el("button", { type: "button", class: "small danger" }, "Revoke");
    revoke.addEventListener("click", async () => {
      if (!confirm(`Revoke ${key.name || key.hint}? Scripts using it stop at once.`)) return;
      try { await api("POST", url("api-key-revoke", { key_id: key.id })); } catch (e) { Live.notify(e.message); }
      load();
    });
    const used = key.last_used_at ? `${when(key.last_used_at)} from ${key.last_used_from || "?"}` : "never";
    return el("tr", { "data-key": key.id, "data-state": key.state },
      el("td", {}, key.name), ...(allUsers ? [el("td", {}, key.user)] : []),
      el("td", {}, el("code", {}, `${key.hint}…`)), el("td", {}, key.scopes.join(", ")),
      el("td", {}, key.allowed_models.join(", ") || "all"), el("td", {}, when(key.created_at)),
      el("td", {}, used), el("td", {}, key.expires_at ? when(key.expires_at) : "never"),
      limitsCell(key), el("td", { class: `state-${key.state}` }, key.state),
      el("td", {}, key.state === "revoked" ? "" : revoke));
  }

  async function load() {
    const keys = await api("GET", url("api-keys"));
    rows.replaceChildren(...keys.map(row));
    document.getElementById("key-list-empty").hidden = keys.length > 0;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const data = new FormData(form);
    const body = {
      name: data.get("name"), note: data.get("note"), expires: data.get("expires"),
      scopes: data.getAll("scopes"),
      models: String(data.get("models")).split(",").map((m) => m.trim()).filter(Boolean),
      ...Object.fromEntries(limitKinds.map(([kind]) => [kind, limitValue(form.elements[kind])])),
    };
    try {
      const key = await api("POST", url("api-keys"), body);
      document.getElementById("key-secret-value").textContent = key.secret;
      document.getElementById("key-secret").hidden = false;
      form.reset();
      load();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  });

  document.getElementById("key-copy").addEventListener("click", async (event) => {
    await navigator.clipboard.writeText(document.getElementById("key-secret-value").textContent);
    event.target.textContent = "Copied";
  });

  load().catch((e) => Live.notify(e.message));
})();
