// Client-side search of the index: the scoring of brainio_dvc.search, on the same entries.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("search-data").textContent);
  var list = document.getElementById("entries");
  var items = Array.prototype.slice.call(list.children);
  var byPage = {};
  items.forEach(function (item) { byPage[item.getAttribute("data-page")] = item; });
  var wordPattern = /[\p{L}\p{N}]+/gu;
  function words(text) { return text.toLowerCase().match(wordPattern) || []; }
  function text(value) { return Array.isArray(value) ? value.join(" ") : String(value || ""); }
  function termScore(term, entry) {
    var best = 0;
    Object.keys(data.weights).forEach(function (name) {
      var field = text(entry[name]).toLowerCase();
      if (field.indexOf(term) >= 0) {
        var whole = words(field).indexOf(term) >= 0;
        best = Math.max(best, data.weights[name] * (whole ? 2 : 1));
      }
    });
    return best;
  }
  function matchesAny(wanted, values) {
    if (!wanted) { return true; }
    wanted = wanted.trim().toLowerCase();
    return values.some(function (value) {
      value = value.toLowerCase();
      return wanted === value || value.split(/\s+/).indexOf(wanted) >= 0;
    });
  }
  function update() {
    var query = document.getElementById("q").value;
    var kind = document.getElementById("kind").value;
    var species = document.getElementById("species").value;
    var region = document.getElementById("region").value;
    var terms = words(query);
    var exact = query.trim().toLowerCase();
    var ranked = [];
    data.entries.forEach(function (entry, position) {
      if (kind && entry.kind !== kind) { return; }
      if (!matchesAny(species, entry.species) || !matchesAny(region, entry.regions)) { return; }
      var score = 0;
      for (var i = 0; i < terms.length; i++) {
        var found = termScore(terms[i], entry);
        if (!found) { return; }
        score += found;
      }
      if (exact && exact === entry.identifier.toLowerCase()) { score += 100; }
      ranked.push({ score: score, position: position, entry: entry });
    });
    ranked.sort(function (a, b) { return b.score - a.score || a.position - b.position; });
    items.forEach(function (item) { item.hidden = true; });
    ranked.forEach(function (hit) {
      var item = byPage[hit.entry.page];
      item.hidden = false;
      list.appendChild(item);
    });
    document.getElementById("count").textContent =
      ranked.length === data.entries.length ? data.entries.length + " identifiers"
        : ranked.length + " of " + data.entries.length + " identifiers";
    document.getElementById("empty").hidden = ranked.length > 0;
  }
  ["q", "kind", "species", "region"].forEach(function (id) {
    var element = document.getElementById(id);
    element.addEventListener("input", update);
    element.addEventListener("change", update);
  });
  var initial = new URLSearchParams(window.location.search).get("q");
  if (initial) { document.getElementById("q").value = initial; }
  update();
}());
