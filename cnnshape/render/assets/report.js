// cnnshape report: sortable, foldable layer tables and a diagram depth switch.
// Everything is in the page already (it reads fine without this script); the script
// only hides, shows and reorders. It writes data-report="ready" on the body element when done,
// or data-report="error: ..." if anything failed, so a headless browser can check it.
"use strict";
(function () {
  window.addEventListener("error", function (event) {
    document.body.setAttribute("data-report", "error: " + event.message);
  });

  function setupTable(table) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var byName = {};
    rows.forEach(function (row) { byName[row.getAttribute("data-name")] = row; });
    var folded = {};

    function ancestorsOf(row) {
      var found = [];
      var parent = row.getAttribute("data-parent");
      while (parent && byName[parent]) {
        found.push(parent);
        parent = byName[parent].getAttribute("data-parent");
      }
      return found;
    }
    var ancestors = rows.map(ancestorsOf);

    function refresh() {
      rows.forEach(function (row, i) {
        row.hidden = ancestors[i].some(function (name) { return folded[name]; });
        var button = row.querySelector("button.fold");
        if (button) {
          var isFolded = !!folded[row.getAttribute("data-name")];
          button.textContent = isFolded ? "▸" : "▾";
          button.setAttribute("aria-expanded", isFolded ? "false" : "true");
        }
      });
    }
    function foldFrom(level) {
      folded = {};
      rows.forEach(function (row) {
        if (row.classList.contains("block") && Number(row.getAttribute("data-depth")) >= level) {
          folded[row.getAttribute("data-name")] = true;
        }
      });
      refresh();
    }
    body.addEventListener("click", function (event) {
      var button = event.target.closest("button.fold");
      if (!button) return;
      var name = button.closest("tr").getAttribute("data-name");
      folded[name] = !folded[name];
      refresh();
    });
    var box = table.closest("section");
    box.querySelectorAll("button[data-fold]").forEach(function (button) {
      button.addEventListener("click", function () { foldFrom(Number(button.getAttribute("data-fold"))); });
    });

    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var now = th.getAttribute("aria-sort");
        var next = now === "descending" ? "ascending" : now === "ascending" ? "none" : "descending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        var order = rows.slice();
        if (next !== "none") {
          th.setAttribute("aria-sort", next);
          var numeric = th.classList.contains("num");
          var sign = next === "ascending" ? 1 : -1;
          order.sort(function (x, y) {
            var a = x.cells[column].getAttribute("data-v") || x.cells[column].textContent;
            var b = y.cells[column].getAttribute("data-v") || y.cells[column].textContent;
            if (numeric) return sign * (Number(a) - Number(b));
            return sign * a.localeCompare(b);
          });
        }
        order.forEach(function (row) { body.appendChild(row); });
      });
    });
    foldFrom(Number(table.getAttribute("data-fold-from") || "99"));
  }

  function setupDiagram(box) {
    var buttons = box.querySelectorAll("button[data-show]");
    var views = box.querySelectorAll(".diagram-box");
    buttons.forEach(function (button) {
      button.addEventListener("click", function () {
        var chosen = button.getAttribute("data-show");
        views.forEach(function (view) { view.hidden = view.id !== chosen; });
        buttons.forEach(function (other) { other.setAttribute("aria-pressed", other === button ? "true" : "false"); });
      });
    });
  }

  document.querySelectorAll("table.layers").forEach(setupTable);
  document.querySelectorAll(".diagram").forEach(setupDiagram);
  if (!document.body.getAttribute("data-report")) {
    document.body.setAttribute("data-report", "ready");
  }
})();
