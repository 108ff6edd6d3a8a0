/* leadscore.js: the browser side of leadscore, dependency-free. Page views, video percent watched,
 * downloads, and the hidden fields of forms, tied to one signed first-party visitor id.
 *
 *   <script src="leadscore.js" data-api="https://api.example.com" data-write-key="BROWSER-KEY" defer></script>
 *
 * or `window.leadscoreConfig = {api: "...", writeKey: "..."}` before it (that wins). Events go to
 * the Segment-compatible POST /v1/batch with the public browser key in the body (as analytics.js
 * does: a plain text/plain post, so no CORS preflight); the visitor id comes from POST /visitors.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-write-key]");
  var data = (script && script.dataset) || {};
  var given = window.leadscoreConfig || {};
  var config = {
    api: String(given.api || data.api || "").replace(/\/+$/, ""),
    writeKey: String(given.writeKey || data.writeKey || ""),
  };
  var KEY = "leadscore_visitor";
  var SIGNED = /^v1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/;
  var CAMPAIGN = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var MILESTONES = [25, 50, 75, 100];
  var reached = {}; // video name -> highest milestone already sent
  var pending = null;
  var self = { config: config, sent: 0 };

  function id() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function storedVisitor() {
    var value = null;
    try { value = localStorage.getItem(KEY); } catch (e) { /* storage blocked: the cookie may hold it */ }
    if (!value) {
      var found = document.cookie.match(/(?:^|;\s*)leadscore_visitor=([^;]+)/);
      value = found && decodeURIComponent(found[1]);
    }
    return value && SIGNED.test(value) ? value : null;
  }

  function remember(visitor) {
    try { localStorage.setItem(KEY, visitor); } catch (e) { /* the cookie is enough */ }
    document.cookie = KEY + "=" + encodeURIComponent(visitor) + "; Max-Age=34560000; Path=/; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }

  // The signed id (only such an id links browsing to a form); if the API cannot be reached, an
  // unsigned one for this page only: its events still count, anonymously, but never link.
  function visitor() {
    var known = storedVisitor();
    if (known) return Promise.resolve(known);
    if (!pending) {
      pending = fetch(config.api + "/visitors", { method: "POST" })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (body) { remember(body.visitor_id); fillForms(); return body.visitor_id; })
        .catch(function () { pending = Promise.resolve("page-" + id()); return pending; });
    }
    return pending;
  }

  function campaign() {
    var query = new URLSearchParams(location.search), found = {};
    CAMPAIGN.forEach(function (name) {
      var value = query.get(name);
      try {
        if (value) sessionStorage.setItem(name, value); else value = sessionStorage.getItem(name);
      } catch (e) { /* no session storage: this page's query only */ }
      if (value) found[name] = value;
    });
    return found;
  }

  function context() {
    var utm = campaign(), named = {};
    CAMPAIGN.forEach(function (name) { if (utm[name]) named[name.slice(4)] = utm[name]; });
    if (named.campaign) { named.name = named.campaign; delete named.campaign; }
    return {
      page: { url: location.href, path: location.pathname, referrer: document.referrer, title: document.title },
      campaign: named,
      library: { name: "leadscore.js", version: "1" },
    };
  }

  // One POST /v1/batch; `keepalive` lets it finish while the browser follows a link.
  function send(calls) {
    return visitor().then(function (anonymousId) {
      var now = new Date().toISOString();
      var batch = calls.map(function (call) {
        call.anonymousId = anonymousId;
        call.messageId = id();
        call.timestamp = now;
        call.context = context();
        return call;
      });
      return fetch(config.api + "/v1/batch", {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify({ writeKey: config.writeKey, batch: batch, sentAt: now }),
        keepalive: true,
      }).then(function (response) {
        if (response.ok) self.sent += calls.length; // calls the API took: for a page's own checks
        return response;
      });
    }).catch(function (error) {
      if (window.console) console.warn("leadscore: events not sent", error);
    });
  }

  function page() {
    return send([{ type: "page", name: document.title, properties: { url: location.href, referrer: document.referrer } }]);
  }

  function track(event, properties) {
    return send([{ type: "track", event: event, properties: properties || {} }]);
  }

  // Percent watched, at most once per milestone per page: 25, 50, 75, then 100 as completed.
  function videoProgress(name, position, duration) {
    if (!(duration > 0) || !isFinite(duration)) return Promise.resolve();
    var percent = Math.min(100, (100 * position) / duration), calls = [];
    MILESTONES.forEach(function (milestone) {
      if (percent >= milestone && milestone > (reached[name] || 0)) {
        reached[name] = milestone;
        calls.push({
          type: "track",
          event: milestone === 100 ? "Video Playback Completed" : "Video Content Playing",
          properties: { asset_id: name, title: name, position: (duration * milestone) / 100, total_length: duration },
        });
      }
    });
    return calls.length ? send(calls) : Promise.resolve();
  }

  function watchVideos() {
    document.querySelectorAll("video[data-leadscore-video], audio[data-leadscore-video]").forEach(function (media) {
      var report = function () { videoProgress(media.dataset.leadscoreVideo, media.currentTime, media.duration); };
      media.addEventListener("timeupdate", report);
      media.addEventListener("ended", function () { videoProgress(media.dataset.leadscoreVideo, media.duration, media.duration); });
    });
  }

  function watchDownloads() {
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-leadscore-download], a[download]");
      if (!link) return;
      var file = link.pathname.split("/").pop() || link.href;
      track("File Downloaded", { asset: link.dataset.leadscoreDownload || file.replace(/\.[^.]+$/, ""), file_name: file });
    }, true);
  }

  // Forms posting to the API: the action follows the configured API; hidden fields are filled.
  function fillForms() {
    var values = campaign(), visitorId = storedVisitor();
    values.page_url = location.href;
    values.referrer = document.referrer;
    if (visitorId) values.visitor_id = visitorId;
    document.querySelectorAll("form[data-leadscore-form]").forEach(function (form) {
      if (config.api) form.action = config.api + "/forms/" + encodeURIComponent(form.dataset.leadscoreForm);
      Object.keys(values).forEach(function (name) {
        var input = form.querySelector('input[type="hidden"][name="' + name + '"]');
        if (input && values[name]) input.value = values[name];
      });
    });
  }

  // A form sent before the visitor id arrived waits for it (briefly), so the browsing links.
  function holdFormsForVisitor() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.matches("form[data-leadscore-form]") || storedVisitor() || form.dataset.leadscoreHeld) return;
      event.preventDefault();
      form.dataset.leadscoreHeld = "1";
      var go = function () { fillForms(); HTMLFormElement.prototype.submit.call(form); };
      Promise.race([visitor(), new Promise(function (done) { setTimeout(done, 1500); })]).then(go, go);
    });
  }

  self.visitor = visitor;
  self.page = page;
  self.track = track;
  self.videoProgress = videoProgress; // for players that are not a <video> (YouTube, Vimeo): call on progress
  window.leadscore = self;
  fillForms();
  holdFormsForVisitor();
  watchVideos();
  watchDownloads();
  if (config.api && config.writeKey) self.ready = page();
})();
