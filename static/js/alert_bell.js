// The bell in the top bar: how many alerts fire now (silenced ones left out), live over
// /ws/alerts/. Other scripts of the page (the Alerts page) share its socket: AlertBell.subscribe.
"use strict";

const AlertBell = (() => {
  const subscribers = [];
  let last = null;
  let connection = null;

  function show(state) {
    const bell = document.getElementById("alert-bell");
    const count = document.getElementById("alert-count");
    if (!bell || !count) return;
    count.textContent = String(state.firing);
    bell.classList.toggle("firing", state.firing > 0);
    bell.title = state.firing
      ? `${state.firing} alert${state.firing === 1 ? "" : "s"} firing`
      : "No alerts firing";
  }

  function receive(message) {
    if (message.type !== "alerts") return;
    last = message;
    show(message);
    subscribers.forEach((subscriber) => subscriber.alerts(message));
  }

  function subscribe(subscriber) {
    subscribers.push(subscriber);
    if (last) subscriber.alerts(last);
  }

  function start(onStatus) {
    connection ??= Live.socket(Live.url("ws-alerts"), receive, (text) => {
      subscribers.forEach((subscriber) => subscriber.status?.(text));
    });
  }

  document.addEventListener("DOMContentLoaded", () => start());
  return { subscribe };
})();
