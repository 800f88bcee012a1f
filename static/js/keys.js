// The Keys page: list the keys, make one (its secret shown once, with a copy button), revoke.
"use strict";

(() => {
  const { el, api, url } = Live;
  const allUsers = JSON.parse(document.getElementById("key-all-users").textContent);
  const form = document.getElementById("key-form");
  const error = document.getElementById("key-error");
  const rows = document.querySelector("#key-list tbody");
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

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
      el("td", { class: `state-${key.state}` }, key.state),
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
