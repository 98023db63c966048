// berth registry pages: conveniences only. Every page works without this
// file; it adds copy buttons to the pull lines and filters table rows as
// the user types into a search box. Loaded as a file (the CSP allows no
// inline script) and it never builds markup from data: text goes in
// through textContent only.
"use strict";
(function () {
  function addCopyButtons() {
    var cmds = document.querySelectorAll(".cmd");
    for (var i = 0; i < cmds.length; i++) {
      var code = cmds[i].querySelector("code");
      if (!code || cmds[i].querySelector("button")) continue;
      var b = document.createElement("button");
      b.type = "button";
      b.className = "copy";
      b.textContent = "Copy";
      b.setAttribute("aria-label", "Copy: " + code.textContent);
      b.addEventListener("click", copy.bind(null, b, code));
      cmds[i].appendChild(b);
    }
  }
  function copy(button, code) {
    var text = code.textContent;
    var done = function () { say(button, "Copied"); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(code, button); });
    } else {
      fallback(code, button);
    }
  }
  // Without the clipboard API (plain HTTP to a remote host), select the
  // text so that Ctrl-C copies it.
  function fallback(code, button) {
    var r = document.createRange();
    r.selectNodeContents(code);
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    say(button, ok ? "Copied" : "Selected: press Ctrl-C");
  }
  function say(button, msg) {
    button.textContent = msg;
    button.setAttribute("aria-live", "polite");
    setTimeout(function () { button.textContent = "Copy"; }, 2000);
  }
  function liveFilter() {
    var inputs = document.querySelectorAll("input[data-filter]");
    for (var i = 0; i < inputs.length; i++) {
      (function (input) {
        var table = document.getElementById(input.getAttribute("data-filter"));
        if (!table) return;
        var empty = table.parentNode.parentNode.querySelector(".filter-empty");
        var rows = table.querySelectorAll("tbody tr");
        input.addEventListener("input", function () {
          var q = input.value.trim().toLowerCase();
          var shown = 0;
          for (var j = 0; j < rows.length; j++) {
            var key = (rows[j].getAttribute("data-key") || "").toLowerCase();
            var hit = q === "" || key.indexOf(q) >= 0;
            rows[j].hidden = !hit;
            if (hit) shown++;
          }
          if (empty) empty.hidden = shown !== 0;
        });
      })(inputs[i]);
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    addCopyButtons();
    liveFilter();
  });
})();
