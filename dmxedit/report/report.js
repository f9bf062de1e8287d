// dmxedit report: filters, keyboard navigation and the redo export. No network, no libraries.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dmxedit-data").textContent);
  var jobs = Array.prototype.slice.call(document.querySelectorAll("article.job"));
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.redo-box"));
  var filterButtons = Array.prototype.slice.call(document.querySelectorAll("button.filter"));
  var exportButton = document.getElementById("export");
  var clearButton = document.getElementById("clear");
  var redoCount = document.getElementById("redo-count");
  var redoText = document.getElementById("redo-text");
  var announce = document.getElementById("announce");
  var empty = document.getElementById("empty");
  var storeKey = "dmxedit-report:" + location.pathname;
  var marked = new Set();
  var filter = "all";
  var current = -1;

  function loadMarks() {
    var ids = [];
    try { ids = JSON.parse(localStorage.getItem(storeKey) || "[]"); } catch (e) { ids = []; }
    if (!Array.isArray(ids)) { return; }
    data.jobs.forEach(function (job, i) {
      if (ids.indexOf(job.redo.id) >= 0) { marked.add(i); }
    });
  }

  function saveMarks() {
    var ids = [];
    marked.forEach(function (i) { ids.push(data.jobs[i].redo.id); });
    try {
      if (ids.length) { localStorage.setItem(storeKey, JSON.stringify(ids)); }
      else { localStorage.removeItem(storeKey); }
    } catch (e) { /* storage may be off for pages opened from disk */ }
  }

  function exportText() {
    var lines = [];
    for (var i = 0; i < data.jobs.length; i++) {
      if (marked.has(i)) { lines.push(JSON.stringify(data.jobs[i].redo) + "\n"); }
    }
    return lines.join("");
  }

  function matches(article, name) {
    if (name === "failed") { return article.dataset.failed === "1"; }
    if (name === "mismatch") { return article.dataset.mismatch === "1"; }
    if (name === "redo") { return marked.has(Number(article.dataset.index)); }
    return true;
  }

  function visible() {
    return jobs.filter(function (article) { return !article.hidden; });
  }

  function refresh() {
    boxes.forEach(function (box) {
      var on = marked.has(Number(box.dataset.index));
      box.checked = on;
      jobs[Number(box.dataset.index)].classList.toggle("marked", on);
    });
    redoCount.textContent = String(marked.size);
    exportButton.disabled = marked.size === 0;
    clearButton.disabled = marked.size === 0;
    redoText.value = exportText();
    var count = document.querySelector('button.filter[data-filter="redo"] .count');
    if (count) { count.textContent = String(marked.size); }
    if (filter === "redo") { applyFilter("redo", true); }
  }

  function applyFilter(name, quiet) {
    filter = name;
    var shown = 0;
    jobs.forEach(function (article) {
      article.hidden = !matches(article, name);
      if (!article.hidden) { shown++; }
    });
    filterButtons.forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.filter === name ? "true" : "false");
    });
    empty.hidden = shown !== 0;
    if (current >= 0 && jobs[current].hidden) { setCurrent(-1); }
    if (!quiet) { say(label("showing", { shown: shown, total: jobs.length })); }
  }

  function setCurrent(index, scroll) {
    if (current >= 0) { jobs[current].classList.remove("current"); }
    current = index;
    if (index < 0) { return; }
    var article = jobs[index];
    article.classList.add("current");
    if (scroll) {
      // below the sticky header, whatever its height in this window
      var top = document.querySelector("header.top");
      var sticky = top && getComputedStyle(top).position === "sticky";
      article.style.scrollMarginTop = (sticky ? top.offsetHeight + 8 : 8) + "px";
      article.focus({ preventScroll: true });
      article.scrollIntoView({ block: "start" });
    }
  }

  function move(step) {
    var list = visible();
    if (!list.length) { return; }
    var at = list.indexOf(jobs[current]);
    var next = at < 0 ? (step > 0 ? 0 : list.length - 1) : at + step;
    next = Math.max(0, Math.min(list.length - 1, next));
    setCurrent(jobs.indexOf(list[next]), true);
  }

  function toggle(index) {
    if (index < 0) { say(label("choose", {})); return; }
    if (marked.has(index)) { marked.delete(index); } else { marked.add(index); }
    saveMarks();
    var id = data.jobs[index].id;
    say(label(marked.has(index) ? "marked" : "unmarked", { id: id, count: marked.size }));
    refresh();
  }

  function download() {
    if (!marked.size) { return; }
    var blob = new Blob([exportText()], { type: "application/x-ndjson" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = data.export_name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
    say(label("exported", { count: marked.size, file: data.export_name }));
  }

  function say(text) { announce.textContent = text; }

  // A sentence of the page in the language it was made in (data.labels, written by
  // report/page.py), its {name} fields filled in.
  function label(name, values) {
    return String(data.labels[name]).replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      var index = Number(box.dataset.index);
      if (box.checked !== marked.has(index)) { toggle(index); }
    });
  });
  filterButtons.forEach(function (button) {
    button.addEventListener("click", function () { applyFilter(button.dataset.filter); });
  });
  exportButton.addEventListener("click", download);
  clearButton.addEventListener("click", function () {
    marked.clear();
    saveMarks();
    say(label("cleared", {}));
    refresh();
  });
  jobs.forEach(function (article, index) {
    article.addEventListener("focusin", function () { setCurrent(index, false); });
    article.addEventListener("click", function () { setCurrent(index, false); });
  });

  var keys = {
    j: function () { move(1); }, n: function () { move(1); },
    k: function () { move(-1); }, p: function () { move(-1); },
    r: function () { toggle(current); }, x: function () { toggle(current); },
    a: function () { applyFilter("all"); }, f: function () { applyFilter("failed"); },
    m: function () { applyFilter("mismatch"); }, d: function () { applyFilter("redo"); },
    e: download
  };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) { return; }
    var target = event.target;
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
        target.isContentEditable ||
        (target.tagName === "INPUT" && target.type !== "checkbox"))) { return; }
    var action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  loadMarks();
  refresh();
  window.dmxeditReport = {
    exportText: exportText,
    marked: function () { var out = []; marked.forEach(function (i) { out.push(i); }); return out; },
    current: function () { return current; }
  };
})();
