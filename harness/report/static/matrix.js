/* xch report: the compatibility matrix. Filter, search, sort and page through window.XCH_MATRIX.
   Plain JavaScript, no library. Data is only ever written with textContent / setAttribute, never
   as HTML, so a product named <script>...</script> stays text. */
(function () {
  "use strict";
  var M = window.XCH_MATRIX;
  var S = JSON.parse(document.getElementById("m-strings").textContent);
  var PAGE = 50;
  var state = { q: "", vendor: "", category: "", cpu: "", os: "", status: "", sort: "name", dir: 1, page: 0 };
  var statusIdx = {};
  M.statuses.forEach(function (s, i) { statusIdx[s] = i; });
  var SYMBOL = ["\u2714", "\u25D0", "\u2718", "\u2026"];  // compatible, conditional, incompatible, pending
  var RANK = [0, 1, 3, 2];  // sort order: compatible, conditional, pending, incompatible
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function fill(select, values, label) {
    values.forEach(function (v) { select.appendChild(el("option", label ? label(v) : v, { value: v })); });
  }
  function uniq(list) {
    var seen = {}, out = [];
    list.forEach(function (v) { if (v !== "" && !seen.hasOwnProperty(v)) { seen[v] = 1; out.push(v); } });
    return out.sort(function (a, b) { return a.localeCompare(b); });
  }

  fill($("f-vendor"), uniq(M.rows.map(function (r) { return r[3]; })));
  fill($("f-category"), uniq(M.rows.map(function (r) { return r[4]; })), function (c) { return S.category[c] || c; });
  fill($("f-cpu"), uniq(M.platforms.map(function (p) { return p.cpu; })));
  fill($("f-os"), uniq(M.platforms.map(function (p) { return p.os; })));
  fill($("f-status"), M.statuses, function (s) { return S.status[s] || s; });

  function columns() {
    var cols = [];
    M.platforms.forEach(function (p, i) {
      if ((!state.cpu || p.cpu === state.cpu) && (!state.os || p.os === state.os)) cols.push(i);
    });
    return cols;
  }
  function compatibleCount(row, cols) {
    var n = 0;
    cols.forEach(function (c) { var cell = row[5][c]; if (cell && cell[0] === 0) n++; });
    return n;
  }
  function visibleRows(cols) {
    var q = state.q.toLowerCase(), want = state.status ? statusIdx[state.status] : -1;
    var rows = M.rows.filter(function (r) {
      if (state.vendor && r[3] !== state.vendor) return false;
      if (state.category && r[4] !== state.category) return false;
      if (q && (r[1] + " " + r[2] + " " + r[3]).toLowerCase().indexOf(q) < 0) return false;
      var any = false, hit = want < 0;
      for (var k = 0; k < cols.length; k++) {
        var cell = r[5][cols[k]];
        if (cell) { any = true; if (cell[0] === want) hit = true; }
      }
      return any && hit;
    });
    var key = state.sort, dir = state.dir;
    rows.sort(function (a, b) {
      var x, y;
      if (key === "name") { x = a[1].toLowerCase(); y = b[1].toLowerCase(); }
      else if (key === "version") { x = a[2]; y = b[2]; }
      else if (key === "vendor") { x = a[3].toLowerCase(); y = b[3].toLowerCase(); }
      else if (key === "category") { x = a[4]; y = b[4]; }
      else if (key === "count") { x = -compatibleCount(a, cols); y = -compatibleCount(b, cols); }
      else { var ca = a[5][key], cb = b[5][key]; x = ca ? RANK[ca[0]] : 9; y = cb ? RANK[cb[0]] : 9; }
      if (x < y) return -dir;
      if (x > y) return dir;
      return a[1].localeCompare(b[1]);
    });
    return rows;
  }
  function header(cols) {
    var tr = el("tr");
    var fixed = [["name", S.t.product], ["version", S.t.version], ["vendor", S.t.vendor], ["category", S.t.category],
                 ["count", S.t.compatible_count]];
    fixed.forEach(function (f) { tr.appendChild(th(f[0], f[1])); });
    cols.forEach(function (c) {
      var p = M.platforms[c];
      var parts = [p.arch];
      if (p.cpu && p.cpu !== p.arch) parts.push(p.cpu);
      if (p.os) parts.push(p.os);
      var cell = th(c, parts.join(" · ") + (p.emulated ? " (" + S.t.emulated + ")" : ""));
      cell.setAttribute("title", p.label);
      cell.setAttribute("data-platform", p.slug);
      tr.appendChild(cell);
    });
    var thead = document.querySelector("#matrix thead");
    thead.textContent = "";
    thead.appendChild(tr);
  }
  function th(key, text) {
    var cell = el("th", text, { "data-sort": String(key) });
    if (String(state.sort) === String(key)) cell.className = state.dir > 0 ? "sorted-asc" : "sorted-desc";
    cell.addEventListener("click", function () {
      if (String(state.sort) === String(key)) state.dir = -state.dir; else { state.sort = key; state.dir = 1; }
      state.page = 0;
      render();
    });
    return cell;
  }
  function render() {
    var cols = columns(), rows = visibleRows(cols);
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    header(cols);
    var tbody = document.querySelector("#matrix tbody");
    var frag = document.createDocumentFragment();
    var start = state.page * PAGE, slice = rows.slice(start, start + PAGE);
    slice.forEach(function (r) {
      var tr = el("tr", null, { "data-product": r[0] });
      var name = el("td"), link = el("a", r[1], { href: "product/" + r[0] + ".html", "class": "pname" });
      name.appendChild(link);
      tr.appendChild(name);
      tr.appendChild(el("td", r[2]));
      tr.appendChild(el("td", r[3], { "class": "vendor" }));
      tr.appendChild(el("td", S.category[r[4]] || r[4]));
      tr.appendChild(el("td", String(compatibleCount(r, cols)), { "class": "n" }));
      cols.forEach(function (c) {
        var cell = r[5][c];
        if (!cell) { tr.appendChild(el("td", "", { "class": "cell empty" })); return; }
        var status = M.statuses[cell[0]], kind = M.kinds[cell[1]];
        var tip = (S.status[status] || status) + (kind !== "tested" ? " · " + (S.kind[kind] || kind) : "") +
                  (cell[2] >= 0 ? "\n" + M.reasons[cell[2]] : "");
        var td = el("td", null, { "class": "cell c-" + status, title: tip, "data-status": status });
        td.appendChild(el("a", SYMBOL[cell[0]] + " " + (S.status[status] || status),
                          { href: "product/" + r[0] + ".html" }));
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    });
    tbody.textContent = "";
    tbody.appendChild(frag);
    if (!rows.length) {
      var empty = el("tr");
      empty.appendChild(el("td", S.t.no_rows, { colspan: String(5 + cols.length) }));
      tbody.appendChild(empty);
    }
    $("m-info").textContent = S.t.rows_shown.replace("{from}", rows.length ? start + 1 : 0)
      .replace("{to}", Math.min(start + PAGE, rows.length)).replace("{total}", rows.length);
    $("m-info").setAttribute("data-shown", String(rows.length));
    $("m-page").textContent = (state.page + 1) + " / " + pages;
    $("m-prev").disabled = state.page === 0;
    $("m-next").disabled = state.page >= pages - 1;
  }

  $("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  var timer = null;
  $("f-search").addEventListener("input", function (e) {
    clearTimeout(timer);
    timer = setTimeout(function () { state.q = e.target.value.trim(); state.page = 0; render(); }, 120);
  });
  ["vendor", "category", "cpu", "os", "status"].forEach(function (k) {
    $("f-" + k).addEventListener("change", function (e) { state[k] = e.target.value; state.page = 0; render(); });
  });
  $("m-prev").addEventListener("click", function () { state.page--; render(); });
  $("m-next").addEventListener("click", function () { state.page++; render(); });
  render();
})();
