// The console's few scripts: the live camera, the password policy, the idle warning, printing.
// No inline script anywhere (the Content-Security-Policy forbids it): everything hangs on ids.
"use strict";

function csrf() { return document.body.dataset.csrf || ""; }

function post(url) {
  const body = new URLSearchParams({ csrf: csrf() });
  return fetch(url, { method: "POST", body, credentials: "same-origin" }).then((r) => r.json());
}

function camera() {
  const box = document.querySelector(".camera");
  if (!box) return;
  const image = document.getElementById("live");
  const hints = document.getElementById("hints");
  const start = document.getElementById("camera-start");
  const stop = document.getElementById("camera-stop");
  const next = document.getElementById("face-next");
  const placeholder = document.getElementById("placeholder");
  let running = false;

  function show(words, passed) {
    hints.replaceChildren(...words.map((w) => {
      const li = document.createElement("li");
      li.textContent = w;
      if (passed) li.className = "passed";
      return li;
    }));
  }

  function frame() {
    if (!running) return;
    post(box.dataset.frame).then((answer) => {
      if (!answer.ok) { running = false; show([answer.message], false); stop.hidden = true; return; }
      image.hidden = false;
      if (placeholder) placeholder.hidden = true;
      if (answer.accepted) {
        running = false;
        image.src = box.dataset.face + "?t=" + Date.now();
        show([box.dataset.passed], true);
        stop.hidden = true;
        start.textContent = start.dataset.again;
        start.classList.remove("primary");
        if (next) next.disabled = false;
        return;
      }
      image.src = box.dataset.image + "?t=" + Date.now();
      show(answer.hints, false);
      setTimeout(frame, 150);
    }).catch(() => { running = false; });
  }

  start.addEventListener("click", () => {
    post(box.dataset.start).then((answer) => {
      if (!answer.ok) { show([answer.message], false); return; }
      running = true;
      stop.hidden = false;
      if (next) next.disabled = true;
      frame();
    });
  });
  stop.addEventListener("click", () => { running = false; stop.hidden = true; post(box.dataset.stop); });
  window.addEventListener("pagehide", () => {
    if (running) navigator.sendBeacon(box.dataset.stop, new URLSearchParams({ csrf: csrf() }));
  });
}

function passwordPolicy() {
  const input = document.getElementById("new-password");
  const list = document.getElementById("policy");
  if (!input || !list) return;
  const rules = {
    length: (v, li) => v.length >= Number(li.dataset.min),
    upper: (v) => /\p{Lu}/u.test(v),
    lower: (v) => /\p{Ll}/u.test(v),
    digit: (v) => /\p{Nd}/u.test(v),
    special: (v) => /[^\p{L}\p{Nd}]/u.test(v),
    login: (v, li) => v.length > 0 && !v.toLowerCase().includes(li.dataset.login.toLowerCase()),
  };
  input.addEventListener("input", () => {
    for (const li of list.querySelectorAll("li")) {
      li.classList.toggle("met", rules[li.dataset.rule](input.value, li));
    }
  });
}

function idleWarning() {
  // The server says how many seconds the session has left (no clock of this computer involved);
  // a minute before the end a warning offers to stay, then the page goes to the sign-in.
  const body = document.body;
  const dialog = document.getElementById("idle-warning");
  if (!body.dataset.secondsLeft || !dialog) return;
  let ends = performance.now() + Number(body.dataset.secondsLeft) * 1000;
  function check() {
    const left = ends - performance.now();
    if (left <= 0) { window.location = body.dataset.signin; return; }
    if (left <= 60000 && !dialog.open) dialog.showModal();
    setTimeout(check, Math.min(5000, Math.max(250, left - 60000)));
  }
  document.getElementById("stay").addEventListener("click", () => {
    fetch(body.dataset.keepalive, { method: "POST", body: new URLSearchParams({ csrf: csrf() }), credentials: "same-origin" })
      .then((r) => r.text()).then((t) => { ends = performance.now() + Number(t) * 1000; dialog.close(); });
  });
  check();
}

function languageSwitch() {
  // With scripts, choosing a language is enough; without, the form's button sends it.
  for (const form of document.querySelectorAll("form.language")) {
    const select = form.querySelector("select");
    const button = form.querySelector("button");
    if (button) button.hidden = true;
    select.addEventListener("change", () => form.submit());
  }
}

function printing() {
  const button = document.getElementById("print");
  if (button) button.addEventListener("click", () => window.print());
}

document.addEventListener("DOMContentLoaded", () => { camera(); passwordPolicy(); idleWarning(); languageSwitch(); printing(); });
