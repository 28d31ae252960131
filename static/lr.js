/*
 * leadrelay browser snippet: readable source.
 *
 * The server sends static/lr.min.js, built from this file with `npm run build`
 * (terser; tests/types/test_snippet_build.py fails when the two differ).
 *
 *   croct.track(type, payload)  -> Promise of Croct's processed event, rejected with field errors
 *   reshape.push({event, context, user})
 *   leadrelay.track / leadrelay.push / leadrelay.consent(granted)
 *
 * Settings are data-* attributes on the script tag, or on any element marked
 * data-leadrelay (for a module bundle): data-api, data-croct, data-reshape,
 * data-consent="pending", data-debug. README.md ("Install the snippet") has it all.
 */
(function (w, d) {
  var api = (w.leadrelay = w.leadrelay || {});
  if (api.loaded) return; // the script ran already (tag and bundle both): keep the first
  api.loaded = true;
  try {
    var loc = location;
    var nav = navigator;
    var json = JSON;
    var store = localStorage;
    var QUEUE_KEY = "lr_q";
    var MAX_QUEUE = 100; // events kept for a later page load; a full queue drops the oldest
    var MAX_BATCH = 50; // events per request (the server's default max_batch_events)
    var MAX_BYTES = 6e4; // bytes per request: under the 64 KB keepalive budget
    var CLICK_ID = /^[\w-]{1,190}$/;
    var VENDORS = ["dub", "pimms"];

    var tag = d.currentScript || d.querySelector("[data-leadrelay]") || d.createElement("b");
    var set = tag.dataset;
    var src = /^(.*)\/s(\.\w+)?\.js([?#]|$)/.exec(tag.src);
    var base = set.api || (src ? src[1] : "/lr");
    var debug = "debug" in set || /[?&]leadrelay_debug=1/.test(loc.search);
    var log = function () {
      debug && console.log.apply(console, ["[leadrelay]"].concat([].slice.call(arguments)));
    };

    // Consent: 1 granted, 0 pending (events wait in memory), -1 refused (events are discarded).
    var consent = nav.globalPrivacyControl ? -1 : set.consent == "pending" ? 0 : 1;
    var waiting = []; // [event, resolve, reject] made while consent is pending

    // Unsent events, oldest first, mirrored to localStorage; promises of this page's events by id.
    var queue = [];
    var promises = {};
    var inFlight = {};
    var timer = 0;
    var failures = 0;

    // Click ids in this page's URL: the server turns them into cookies (GET {api}/c).
    var landing = {};
    var params = new URLSearchParams(loc.search);
    var clickQuery = VENDORS.map(function (vendor) {
      var value = params.get(vendor + "_id");
      return value && CLICK_ID.test(value) ? vendor + "_id=" + (landing[vendor] = value) : "";
    }).filter(String).join("&");
    // Events go out only after the click cookies are set, so that the visitor id is minted once.
    var captured = !clickQuery;
    var capturing = 0;

    var landingUrl = loc.href;
    try {
      landingUrl = sessionStorage.lr_l = sessionStorage.lr_l || landingUrl;
    } catch (e) {}

    try {
      queue = json.parse(store[QUEUE_KEY] || "[]");
      queue.push; // a queue damaged by someone else is dropped
    } catch (e) {
      queue = [];
    }

    var save = function () {
      try {
        store[QUEUE_KEY] = json.stringify(queue);
      } catch (e) {}
    };

    var cookie = function (name) {
      var found = d.cookie.match("(^|; )" + name + "=([\\w-]{1,190})(;|$)");
      return found && found[2];
    };

    // The click ids current now: the server's cookies (or Dub's and PIMMS's own), or this URL's
    // until the server has set them.
    var clickIds = function () {
      var ids = {};
      VENDORS.map(function (vendor) {
        var value = (!captured && landing[vendor]) || cookie(vendor + "_id");
        if (value) ids[vendor] = value;
      });
      return ids;
    };

    var uuid = function () {
      return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, function (c) {
        return (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16);
      });
    };

    var settle = function (id, error, event) {
      var promise = promises[id];
      delete promises[id];
      promise && (error ? promise[1](error) : promise[0](event));
    };

    var fail = function (message, errors) {
      var error = Error(message);
      error.errors = errors || [];
      return error;
    };

    var schedule = function (ms) {
      clearTimeout(timer);
      timer = setTimeout(flush, ms);
    };

    var enqueue = function (event) {
      queue.push(event);
      if (queue.length > MAX_QUEUE) {
        var dropped = queue.shift();
        log("queue full: dropped the oldest event", dropped);
        settle(dropped.id, fail("leadrelay queue full: event dropped"));
      }
      save();
      schedule(0);
    };

    // One verdict from the server: accepted and duplicate are done, rejected is final.
    var answer = function (result) {
      var id = result.id;
      var errors = result.errors;
      queue = queue.filter(function (event) {
        return event.id != id;
      });
      if (result.status == "rejected") {
        var text = errors.map(function (error) {
          return error.path + ": " + error.message;
        });
        log("rejected " + id + ":\n  " + text.join("\n  "));
        settle(id, fail("Invalid event payload: " + text.join("; "), errors));
      } else {
        settle(id, 0, result.event || {});
      }
    };

    var flush = function (unloading) {
      if (!captured) return;
      var batch = [];
      var body = "";
      queue.map(function (event) {
        var text = json.stringify(event);
        if (inFlight[event.id] || batch.length >= MAX_BATCH) return;
        if (new Blob([body + text]).size > MAX_BYTES) {
          if (!batch.length) answer({ id: event.id, status: "rejected", errors: [{ path: "", message: "the event is larger than 60 KB", rule: "size" }] });
          return;
        }
        batch.push(event.id);
        inFlight[event.id] = 1;
        body += (body ? "," : "") + text;
      });
      if (!batch.length) return;
      save();
      body = '{"events":[' + body + "]}";
      var done = function () {
        batch.map(function (id) {
          delete inFlight[id];
        });
      };
      var retry = function (why) {
        done();
        var ms = Math.min(6e4, 1e3 * Math.pow(2, failures++)) * (0.5 + Math.random());
        log(why + ": retrying " + batch.length + " event(s) in " + Math.round(ms / 1e3) + " s");
        schedule(ms);
      };
      try {
        fetch(base + "/e", { method: "POST", body: body, keepalive: true, credentials: "include" }).then(function (response) {
          var status = response.status;
          return response
            .json()
            .catch(function () {})
            .then(function (reply) {
              log("response " + status, reply);
              reply = reply || {};
              if (status > 499 || status == 429 || !(reply.results || reply.error)) return retry("HTTP " + status);
              failures = 0;
              done();
              // A batch-level 4xx (400, 403, 413, 415) is final for every event of the batch.
              (reply.results || batch.map(function (id) {
                return { id: id, status: "rejected", errors: [{ path: "", message: reply.error.message, rule: reply.error.code }] };
              })).map(answer);
              save();
              if (queue.length) schedule(0);
            });
        }, retry);
        if (unloading) flush(unloading); // a full batch went out: the rest too, while the page lives
      } catch (e) {
        // No fetch with keepalive here: hand the batch to the browser; it stays queued until confirmed.
        nav.sendBeacon(base + "/e", body);
        done();
      }
    };

    var capture = function () {
      if (captured || capturing) return;
      capturing = 1;
      var finish = function () {
        captured = true;
        flush();
      };
      // On failure the URL's ids ride along in click_ids: no cookie is set, but the lead keeps its click.
      fetch(base + "/c?" + clickQuery, { credentials: "include", keepalive: true }).then(function (response) {
        if (response.ok) landing = {};
        finish();
      }, finish);
    };

    var accept = function (event, resolve, reject) {
      if (resolve) promises[event.id] = [resolve, reject];
      if (consent > 0) {
        enqueue(event);
      } else if (consent) {
        settle(event.id, fail("leadrelay: consent refused: event discarded"));
      } else {
        waiting.push(event);
      }
    };

    var add = function (dialect, type, payload, resolve, reject) {
      var event = {
        id: uuid(),
        dialect: dialect,
        payload: payload,
        context: { url: loc.href, referrer: d.referrer || null, landing_url: landingUrl },
        click_ids: clickIds(),
        ts: Date.now()
      };
      if (type) event.type = type;
      log(dialect + " event " + (type || ""), payload);
      accept(event, resolve, reject);
    };

    api.track = function (type, payload) {
      return new Promise(function (resolve, reject) {
        add("croct", type, payload || {}, resolve, reject);
      });
    };
    api.push = function (data) {
      try {
        add("reshape", 0, data);
      } catch (e) {
        log(e);
      }
    };
    api.consent = function (granted) {
      consent = granted ? 1 : -1;
      log("consent " + (granted ? "granted" : "refused"));
      if (granted) {
        capture();
        waiting.splice(0).map(function (event) {
          accept(event);
        });
      } else {
        // A refusal discards everything this browser has not sent yet.
        waiting.concat(queue).map(function (event) {
          settle(event.id, fail("leadrelay: consent refused: event discarded"));
        });
        waiting = [];
        queue = [];
        save();
      }
    };

    // The stub's calls, in order; later calls to an old stub function run at once.
    var run = function (call) {
      var method = call[0];
      method == "track"
        ? api.track(call[1], call[2]).then(call[3], call[4])
        : api[method] && api[method](call[1]);
      return 0;
    };

    // Take the global names unless a real Croct or Reshape library holds them already.
    [set.reshape == null ? "reshape" : set.reshape, set.croct == null ? "croct" : set.croct].map(function (name) {
      var current = w[name];
      if (!name) return;
      if (!current || current == api || current.map) {
        w[name] = api;
        (current && current.map ? current : []).map(api.push);
      } else {
        log("window." + name + " belongs to another library: left alone; use leadrelay instead");
      }
    });
    (api.q || []).map(run);
    api.q = { push: run };

    if (consent > 0) capture();
    var leave = function () {
      flush(1);
    };
    w.addEventListener("pagehide", leave);
    d.addEventListener("visibilitychange", function () {
      d.visibilityState == "hidden" && leave();
    });
    w.addEventListener("online", leave);
    flush();
  } catch (e) {
    // Never break the page: a failure here leaves the stub's queue in place.
  }
})(window, document);
