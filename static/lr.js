/* leadrelay snippet (first version): croct.track and reshape.push, sent first-party. */
(function (w, d) {
  var script = d.currentScript;
  var endpoint = script.src.replace(/\/s(\.\w+)?\.js(\?.*)?$/, "/e");
  function uuid() {
    return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
  }
  function send(dialect, type, payload) {
    var ev = { id: uuid(), dialect: dialect, payload: payload, context: { url: location.href, referrer: d.referrer || null } };
    if (type) ev.type = type;
    return fetch(endpoint, {
      method: "POST",
      body: JSON.stringify({ events: [ev] }),
      headers: { "Content-Type": "text/plain" },
      keepalive: true,
      credentials: "include",
    }).then(function (r) {
      return r.json().then(function (body) {
        var res = body.results ? body.results[0] : null;
        if (res && res.status !== "rejected") return res.event || res;
        throw new Error(res ? res.errors.map(function (e) { return e.path + ": " + e.message; }).join("; ") : body.error.message);
      });
    });
  }
  var croct = { track: function (type, payload) { return send("croct", type, payload || {}); } };
  var queued = w.reshape || [];
  var reshape = { push: function (data) { send("reshape", null, data); return 0; } };
  w.croct = w.croct && w.croct.track && !w.croct._lr ? w.croct : croct;
  w.reshape = reshape;
  w.leadrelay = { track: croct.track, push: reshape.push };
  for (var i = 0; i < queued.length; i++) reshape.push(queued[i]);
})(window, document);
