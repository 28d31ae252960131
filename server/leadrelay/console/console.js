// The console's one script: expand an event in place, confirm a bulk replay, and the live feed.
// Every value shown is set as text (textContent), never as markup; the details it loads are the
// server's own escaped HTML.
(function () {
  "use strict";
  var MAX_ROWS = 200;

  function loadDetail(details) {
    if (details.dataset.loaded) return;
    details.dataset.loaded = "1";
    var target = details.querySelector(".detail");
    fetch(details.dataset.detail, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      target.replaceChildren.apply(target, Array.prototype.slice.call(doc.body.childNodes));
    }).catch(function (e) {
      target.textContent = "could not load: " + e.message;
      delete details.dataset.loaded;
    });
  }

  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (d.tagName === "DETAILS" && d.open && d.dataset.detail) loadDetail(d);
  }, true);

  document.addEventListener("submit", function (e) {
    var ask = e.target.dataset && e.target.dataset.confirm;
    if (ask && !window.confirm(ask)) e.preventDefault();
  });

  function span(cls, value) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = value == null ? "" : String(value);
    return s;
  }

  function row(base, ev) {
    var url = base + "/events/" + encodeURIComponent(ev.id);
    var li = document.createElement("li");
    li.dataset.id = ev.id;
    li.className = "fresh";
    var details = document.createElement("details");
    details.dataset.detail = url + "?part=detail";
    var summary = document.createElement("summary");
    var time = document.createElement("time");
    time.textContent = new Date(ev.received_at * 1000).toISOString().replace("T", " ").slice(0, 19);
    var link = document.createElement("a");
    link.href = url;
    link.textContent = ev.id;
    summary.append(time, " ", span("dialect", ev.dialect), " ", span("name", ev.name), " ",
      span("who", ev.customer || ev.problem || ""), " ", link);
    var detail = document.createElement("div");
    detail.className = "detail";
    detail.textContent = "loading…";
    details.append(summary, detail);
    li.append(details);
    return li;
  }

  function live() {
    var status = document.getElementById("live-status");
    var list = document.getElementById("live");
    if (!status || !list || !window.EventSource) return;
    var base = document.body.dataset.base;
    var source = new EventSource(status.dataset.stream + "?since=" + encodeURIComponent(status.dataset.since));
    source.onopen = function () { status.textContent = "live: new events appear at the top"; };
    source.onerror = function () { status.textContent = "reconnecting…"; };
    source.addEventListener("reload", function () {
      status.textContent = "this page fell behind the feed: reload it";
      source.close();
    });
    source.onmessage = function (m) {
      var ev = JSON.parse(m.data);
      var seen = list.querySelectorAll("li");
      for (var i = 0; i < seen.length; i++) if (seen[i].dataset.id === ev.id) return;
      list.insertBefore(row(base, ev), list.firstChild);
      while (list.children.length > MAX_ROWS) list.removeChild(list.lastChild);
    };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", live);
  else live();
})();
