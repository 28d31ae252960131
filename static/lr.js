/*
 * leadrelay browser snippet: readable source.
 *
 * The server sends static/lr.min.js, built from this file with `npm run build`
 * (terser; tests/types/test_snippet_build.py fails when the two differ).
 *
 *   croct.track(type, payload)  -> Promise of Croct's processed event, rejected with field errors
 *   reshape.push({event, context, user})
 *   leadrelay.track / leadrelay.push / leadrelay.consent(granted)
 *   leadrelay.flush(ms) -> Promise of the number of events still unanswered, within ms (10 s)
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
    var QUEUE_KEY = "lr_q";
    var MAX_QUEUE = 100; // events kept for a later page load; a full queue drops the oldest
    var MAX_BATCH = 50; // events per request (the server's default max_batch_events)
    var MAX_BYTES = 6e4; // bytes per request: under the 64 KB keepalive budget
    var CLICK_ID = /^[\w-]{1,190}$/;
    var VENDORS = ["dub", "pimms"];

    var tag = d.querySelector("[data-leadrelay]") || d.currentScript || d.createElement("b");
    var set = tag.dataset;
    var src = /^(.*)\/s(\.\w+)?\.js([?#]|$)/.exec(tag.src);
    var base = set.api || (src ? src[1] : "/lr");
    var debug = "debug" in set || /[?&]leadrelay_debug=1/.test(loc.search);
    var log = function () {
      debug && console.log.apply(console, ["[leadrelay]"].concat([].slice.call(arguments)));
    };

    // Consent: 1 granted, 0 pending (events wait in memory), -1 refused (events are discarded).
    var consent = nav.globalPrivacyControl ? -1 : set.consent == "pending" ? 0 : 1;
    var waiting = []; // events made while consent is pending, in memory only

    // Unsent events, oldest first, mirrored to localStorage; promises of this page's events by id.
    var queue = [];
    var promises = {};
    var inFlight = {};
    var timer = 0;
    var failures = 0;
    var requests = 0; // collect requests under way
    var waiters = []; // what flush() promises wait for
    var leaving = 0; // after pagehide, an event made by a later handler is sent at once

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

    // localStorage is shared by the site's tabs: each keeps the others' events when it writes.
    var seen = {}; // ids of the events this page has queued
    var stored = function () {
      try {
        return json.parse(localStorage[QUEUE_KEY] || "[]").filter(function (event) {
          return event.id; // a queue damaged by someone else is dropped
        });
      } catch (e) {
        return [];
      }
    };
    var save = function () {
      try {
        localStorage[QUEUE_KEY] = json.stringify(
          stored()
            .filter(function (event) {
              return !seen[event.id];
            })
            .concat(queue)
        );
      } catch (e) {} // storage full, or refused (private mode, sandbox)
      check();
    };
    // flush()'s promises settle once no request is under way and nothing is left to send, or the
    // last attempt failed (the rest is retried later, as always).
    var check = function () {
      if (!requests && (!queue.length || failures))
        waiters.splice(0).map(function (end) {
          end();
        });
    };
    queue = stored();
    queue.map(function (event) {
      seen[event.id] = 1;
    });

    var cookie = function (name) {
      var found = d.cookie.match("(^|; )" + name + "=([\\w-]{1,190})(;|$)");
      return found && found[2];
    };

    // The click ids current now: this URL's until the server has made them cookies, then the
    // cookies (the server's, or those of Dub's and PIMMS's own scripts).
    var clickIds = function () {
      var ids = {};
      VENDORS.map(function (vendor) {
        var value = landing[vendor] || cookie(vendor + "_id");
        if (value) ids[vendor] = value;
      });
      return ids;
    };

    // A UUID of version 7: the time in ms, then random bits. Ids that sort by time land at
    // the end of the server's dedup index, not at random places in it: random ids nearly
    // double the collector's CPU per beacon (bench/collect.py --ids random).
    var uuid = function () {
      var time = Date.now().toString(16).padStart(12, "0");
      return time.slice(0, 8) + "-" + time.slice(8) + "-7000-8000-100000000000".replace(/[018]/g, function (c) {
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
      seen[event.id] = 1;
      queue.push(event);
      if (queue.length > MAX_QUEUE) {
        var dropped = queue.shift();
        log("queue full: dropped the oldest event", dropped);
        settle(dropped.id, fail("leadrelay queue full: event dropped"));
      }
      save();
      leaving ? flush(1) : schedule(0); // events made in the same moment go in one request
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
      body = '{"events":[' + body + "]}";
      var done = function () {
        requests--;
        batch.map(function (id) {
          delete inFlight[id];
        });
      };
      var retry = function (why) {
        done();
        var ms = Math.min(6e4, 1e3 * Math.pow(2, failures++)) * (0.5 + Math.random());
        log(why + ": retrying " + batch.length + " event(s) in " + Math.round(ms / 1e3) + " s");
        schedule(ms);
        check();
      };
      try {
        fetch(base + "/e", { method: "POST", body: body, keepalive: true, credentials: "include" })
          .then(function (response) {
            var status = response.status;
            return response
              .json()
              .catch(function () {})
              .then(function (reply) {
                log("response " + status, reply);
                reply = reply || {};
                // Unreachable, 5xx, 429 or not leadrelay's answer: keep the events and try again later.
                if (status > 499 || status == 429 || (status < 400 && !reply.results)) return retry("HTTP " + status);
                failures = 0;
                done();
                // Any other 4xx is final: for each event (200, 422) or for the whole batch (400, 403, 413, 415).
                var error = reply.error || { message: "HTTP " + status, code: "http" };
                (reply.results || batch.map(function (id) {
                  return { id: id, status: "rejected", errors: [{ path: "", message: error.message, rule: error.code }] };
                })).map(answer);
                save();
                if (queue.length) schedule(0);
              });
          })
          .catch(retry);
        requests++;
      } catch (e) {
        // No fetch here: the browser's beacon carries the batch (its answer cannot be read). Refused,
        // the batch stays queued, in flight for this page, for the next page load.
        if (nav.sendBeacon(base + "/e", body)) {
          queue = queue.filter(function (event) {
            return batch.indexOf(event.id) < 0;
          });
          save();
        }
      }
      if (unloading) flush(unloading); // the page is going: send the rest now, batch by batch
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
        payload: json.parse(json.stringify(payload)), // as it is now, whatever the page does to it later
        context: { url: loc.href, referrer: d.referrer || null, landing_url: landingUrl },
        click_ids: clickIds(),
        ts: Date.now()
      };
      if (type) event.type = type;
      log(dialect + " " + (type || "push"), event);
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
    // Send everything now; resolves with how many events are still unanswered (0: all were), at the
    // latest after ms. Events waiting for consent are counted, not waited for.
    api.flush = function (ms) {
      return new Promise(function (resolve) {
        var end = function () {
          resolve(queue.length + waiting.length);
        };
        waiters.push(end);
        setTimeout(end, ms || 1e4);
        flush(1);
        check();
      });
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

    // The stub's calls, in order; later calls to an old stub function run at once. track and
    // flush settle the stub's promise.
    var run = function (call) {
      var result = api[call[0]] && api[call[0]](call[1], call[2]);
      result && result.then(call[3], call[4]);
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

    w.addEventListener("pagehide", function () {
      leaving = 1;
      flush(1);
    });
    d.addEventListener("visibilitychange", function () {
      d.visibilityState == "hidden" && flush(1);
    });
    w.addEventListener("online", function () {
      flush();
    });
    log("sending to " + base + "/e; consent " + ["refused", "pending", "granted"][consent + 1]);
    flush(); // what earlier pages left unsent
    if (consent > 0) capture();
  } catch (e) {
    // Never break the page: a failure here leaves the stub's queue in place.
  }
})(window, document);
