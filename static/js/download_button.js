// Download buttons on the catalogue and model pages: start (or find) the download job and say
// so next to the button; the jobs panel shows its progress.
"use strict";
document.querySelectorAll("[data-download]").forEach((button) => {
  const status = button.parentElement.querySelector(".download-status");
  button.addEventListener("click", async () => {
    const picker = button.parentElement.querySelector("select[name=node]");
    const body = picker && picker.value ? { node: picker.value } : {};
    button.disabled = true;
    status.className = "download-status small";
    try {
      const { jobs } = await Live.api("POST", Live.url("api-model-download", { slug: button.dataset.download }), body);
      status.textContent = jobs.map((j) => `${j.node.toUpperCase()}: ${j.state}`).join(", ");
      status.append(" · ", Object.assign(document.createElement("a"), { href: Live.url("downloads"), textContent: "Downloads" }));
    } catch (e) {
      status.textContent = e.message;
      status.classList.add("error");
    } finally {
      button.disabled = false;
    }
  });
});
