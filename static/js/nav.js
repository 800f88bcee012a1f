// The menu button of every page: on a phone it opens and closes the navigation (panel.css
// shows the button, and hides the links while it says aria-expanded="false").
"use strict";
(() => {
  const button = document.getElementById("menu-button");
  const menu = document.getElementById("menu");
  const setOpen = (open) => button.setAttribute("aria-expanded", String(open));
  button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
  // Escape closes the menu from anywhere in it and puts the focus back on its button.
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      button.focus();
    }
  });
})();
