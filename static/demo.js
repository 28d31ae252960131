// The demo page's own script (served at /demo.js). It follows each lead the page sends: the collect
// endpoint's answer, then the event's status ({prefix}/_demo/events/{id}), then, in sandbox mode, what
// each fake vendor received ({prefix}/_sandbox/received/{vendor}). Every string from the server is
// set as text (textContent), never as markup.
(function () {
  "use strict";
  var body = document.body.dataset;
  var NAMES = { dub: "Dub", pimms: "PIMMS", reshape: "DATA Reshape", webhook: "Webhook" };
  var FINAL = { delivered: 1, deduplicated: 1, unattributed: 1, dead: 1 };
  var TONE = { stored: "ok", delivered: "ok", deduplicated: "ok", unattributed: "warn", pending: "warn", retrying: "warn", dead: "bad", rejected: "bad" };
  var path = document.getElementById("path");
  var shown = {}; // event id -> its view

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }
  function pill(state) {
    return el("span", "pill " + (TONE[state] || ""), state);
  }
  function json(value) {
    return JSON.stringify(value, null, 2);
  }
  // The same JSON whatever the order of its keys: what was sent and what arrived, compared.
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value && typeof value == "object")
      return "{" + Object.keys(value).sort().map(function (k) { return JSON.stringify(k) + ":" + canonical(value[k]); }).join(",") + "}";
    return JSON.stringify(value);
  }
  function getJson(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || "HTTP " + response.status);
        return data;
      });
    });
  }

  // 1. The click ids: from this page's URL, then the cookies leadrelay set.
  function cookie(name) {
    var found = document.cookie.match("(?:^|; )" + name + "=([^;]*)");
    return found && decodeURIComponent(found[1]);
  }
  // Shown again until leadrelay ({prefix}/c, which the snippet calls) has set a cookie for each id in the URL.
  function showClicks(round) {
    var params = new URLSearchParams(location.search);
    var waiting = false;
    Array.prototype.forEach.call(document.querySelectorAll("[data-click]"), function (dd) {
      var vendor = dd.dataset.click;
      var set = cookie(vendor + "_id");
      var landed = params.get(vendor + "_id");
      dd.textContent = set ? set + " (cookie set by leadrelay)" : landed ? landed + " (from the URL)" : "none";
      if (landed && set != landed) waiting = true;
    });
    if (waiting && round < 60) setTimeout(showClicks, 250, round + 1);
  }
  showClicks(0);

  // 2. The collect endpoint's answers, read from the snippet's own requests.
  var send = window.fetch;
  window.fetch = function (url) {
    var request = send.apply(this, arguments);
    if (new URL(String(url), location.href).pathname == body.collect) {
      request.then(function (response) {
        return response.clone().json();
      }).then(function (reply) {
        (reply.results || []).forEach(answered);
      }, function () {});
    }
    return request;
  };

  function eventView(id) {
    if (shown[id]) return shown[id];
    var empty = path.querySelector(".empty");
    if (empty) empty.remove();
    var root = el("div", "event");
    root.dataset.event = id;
    var facts = el("dl", "facts");
    var dests = el("ul", "dests");
    root.append(facts, dests);
    path.prepend(root);
    return (shown[id] = { root: root, facts: facts, dests: dests, items: {} });
  }
  function fact(view, name, nodes) {
    var dd = el("dd");
    dd.dataset.fact = name.toLowerCase().replace(/ /g, "-");
    dd.append.apply(dd, nodes);
    view.facts.append(el("dt", "", name), dd);
  }

  function answered(result) {
    var view = eventView(result.id);
    view.root.dataset.state = result.status;
    fact(view, "Event id", [el("code", "event-id", result.id)]);
    if (result.status == "rejected") {
      fact(view, "Status", [pill("rejected"), el("span", "meta", "not stored: the snippet's promise rejects with these errors")]);
      var list = el("ul", "errors");
      (result.errors || []).forEach(function (error) {
        var item = el("li");
        item.append(el("code", "", error.path || "(the event)"), el("span", "", error.message));
        list.append(item);
      });
      view.root.append(list);
      return;
    }
    fact(view, "Status", [pill("stored"), el("span", "meta", result.status == "duplicate" ? "already stored: this id was sent before" : "committed to the database before the answer")]);
    follow(result.id, view, 0);
  }

  // 3. The event's deliveries, polled until each is final (with back-off, well within the rate limits).
  function follow(id, view, round) {
    getJson(body.status + encodeURIComponent(id)).then(function (status) {
      if (round == 0) {
        view.root.dataset.receivedAt = status.received_at;
        var clicks = Object.keys(status.click_ids).map(function (vendor) {
          return el("code", "", vendor + ": " + status.click_ids[vendor]);
        });
        fact(view, "Event", [el("code", "", status.dialect + " · " + status.name)]);
        fact(view, "Click ids", clicks.length ? clicks : [el("span", "meta", "none: land through a link above")]);
        status.marks.forEach(function (mark) {
          fact(view, "Note", [el("span", "meta", mark.message)]);
        });
      }
      var open = false;
      status.destinations.forEach(function (destination) {
        destinationView(view, destination);
        if (destination.state && !FINAL[destination.state]) open = true;
      });
      if (open && round < 20) setTimeout(follow, Math.min(400 * Math.pow(1.4, round), 4000), id, view, round + 1);
    }, function (error) {
      fact(view, "Status", [el("span", "meta", "its status could not be read: " + error.message)]);
    });
  }

  function destinationView(view, destination) {
    var name = destination.name;
    var item = view.items[name];
    if (!item) {
      item = view.items[name] = { root: el("li", "dest"), head: el("div", "dest-head"), detail: el("div") };
      item.root.dataset.destination = name;
      item.root.append(item.head, item.detail);
      view.dests.append(item.root);
    }
    var state = destination.off ? "off" : destination.skipped ? "skipped" : destination.state;
    var seen = canonical([state, destination.attempts, destination.last_error]);
    if (item.seen == seen) return; // nothing new: leave what is shown
    item.seen = seen;
    item.root.dataset.state = state;
    item.head.replaceChildren(el("strong", "", NAMES[name] || name), pill(state));
    item.detail.replaceChildren();
    if (destination.off) return item.detail.append(el("div", "why", "off: " + destination.off));
    if (destination.skipped) return item.detail.append(el("div", "why", NAMES[name] + ": " + destination.skipped));
    var meta = "as “" + destination.event_name + "” · " + destination.attempts + (destination.attempts == 1 ? " attempt" : " attempts");
    item.detail.append(el("div", "meta", meta));
    if (destination.last_error && state != "delivered") item.detail.append(el("div", "why last-error", destination.last_error));
    if (body.sandbox && destination.sent && destination.attempts) received(item, destination, view);
    else if (!body.sandbox) item.detail.append(el("div", "why", "What the vendor received is shown in sandbox mode."));
  }

  // What the sandbox's fake vendor received for this delivery: the request whose body is the one sent.
  function received(item, destination, view) {
    var box = el("div", "received");
    item.detail.append(box);
    var since = Number(view.root.dataset.receivedAt || 0);
    getJson(body.sandbox + "/received/" + encodeURIComponent(destination.name) + "?limit=100").then(function (reply) {
      var wanted = canonical(destination.sent);
      var match = reply.requests.filter(function (request) {
        return canonical(request.body) == wanted && request.received_at >= since;
      }).pop();
      if (!match) return box.append(el("div", "why", "not received yet"));
      var said = match.accepted ? "accepted (HTTP " + match.status + ")" : match.problem || "refused (HTTP " + match.status + ")";
      box.append(el("div", "caption", "What " + (NAMES[destination.name] || destination.name) + " received · " + said), el("pre", "", json(match.body)));
    }, function (error) {
      box.append(el("div", "why", "the sandbox could not be read: " + error.message));
    });
  }

  // The form, and the invalid lead.
  document.getElementById("lead").addEventListener("submit", function (e) {
    e.preventDefault();
    var lead = {};
    new FormData(e.target).forEach(function (value, key) {
      if (value) lead[key] = String(value);
    });
    croct.track("leadGenerated", { leadId: "demo-" + Date.now(), currency: "USD", value: 100, lead: lead }).catch(function () {});
  });
  document.getElementById("invalid").addEventListener("click", function () {
    croct.track("leadGenerated", {
      leadId: "",
      value: -5,
      currency: "dollars",
      lead: { firstName: "Carol", gender: "robot", email: "carol-at-example", birthDate: "2000-02-30", favouriteColour: "teal" }
    }).catch(function () {});
  });
})();
