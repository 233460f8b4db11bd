// Live cluster map: when the inventory's generation moves (any front end
// committed a change), fetch the map again and swap it in, keeping the
// ticked nodes. The only script of the console.
(function () {
  "use strict";
  var map = document.getElementById("map");
  var state = document.getElementById("live-state");
  if (!map || !window.EventSource) { return; }
  var shown = map.dataset.generation || null;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var ticked = {};
    document.querySelectorAll('input[name="node"]:checked').forEach(function (c) { ticked[c.value] = true; });
    var q = map.dataset.range ? "?range=" + encodeURIComponent(map.dataset.range) : "";
    fetch("/map/fragment" + q, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status + " " + r.statusText); }
      return r.text();
    }).then(function (html) {
      map.innerHTML = html;
      document.querySelectorAll('input[name="node"]').forEach(function (c) { c.checked = !!ticked[c.value]; });
      state.textContent = "live · updated " + new Date().toLocaleTimeString();
    }).catch(function (e) {
      state.textContent = "live update failed: " + e.message;
    }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  var es = new EventSource("/events");
  es.addEventListener("generation", function (ev) {
    if (shown !== null && ev.data !== shown) { refresh(); }
    shown = ev.data;
    state.textContent = state.textContent || "live";
  });
  es.onerror = function () { state.textContent = "live updates interrupted; retrying"; };
  es.onopen = function () { if (shown === null) { state.textContent = "live"; } };
}());
