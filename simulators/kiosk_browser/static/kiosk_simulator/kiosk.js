// The browser kiosk's little behaviour: the PIN pad, the copies stepper, one-tap forms and the
// "take your card" screen moving on by itself. Everything works without it (plain forms).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function pinPad() {
    var form = document.getElementById("pinpad");
    if (!form) return;
    var input = document.getElementById("pin");
    var boxes = form.querySelectorAll(".pin-display span");
    function show() {
      boxes.forEach(function (box, i) { box.classList.toggle("filled", i < input.value.length); });
    }
    form.querySelectorAll("[data-digit]").forEach(function (key) {
      key.addEventListener("click", function () {
        if (input.value.length < 4) input.value += key.getAttribute("data-digit");
        show();
      });
    });
    form.querySelector("[data-clear]").addEventListener("click", function () { input.value = ""; show(); });
    form.addEventListener("submit", function (event) {
      if (!/^[0-9]{4}$/.test(input.value)) {
        event.preventDefault();
        document.getElementById("pin-short").hidden = false;
      }
    });
    show();
  }

  function stepper() {
    var copies = document.getElementById("copies");
    if (!copies) return;
    document.querySelectorAll("[data-step]").forEach(function (button) {
      button.addEventListener("click", function () {
        var next = copies.selectedIndex + parseInt(button.getAttribute("data-step"), 10);
        if (next >= 0 && next < copies.options.length) copies.selectedIndex = next;
      });
    });
    // Ticking a member means "only the chosen members".
    var selected = document.getElementById("scope-selected");
    document.querySelectorAll("[data-member]").forEach(function (box) {
      box.addEventListener("change", function () { if (box.checked && selected) selected.checked = true; });
    });
  }

  function once() {
    // A second tap while the first is on its way would ask again; the server is idempotent anyway.
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.sent) { event.preventDefault(); return; }
        form.dataset.sent = "1";
        var submitter = event.submitter;
        if (submitter && submitter.name) {
          var hidden = document.createElement("input");
          hidden.type = "hidden"; hidden.name = submitter.name; hidden.value = submitter.value;
          form.appendChild(hidden);
        }
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      });
    });
  }

  function advance() {
    var card = document.querySelector("[data-advance]");
    if (card) window.setTimeout(function () { window.location.href = card.getAttribute("data-advance"); }, 8000);
  }

  document.addEventListener("DOMContentLoaded", function () { pinPad(); stepper(); once(); advance(); });
})();
