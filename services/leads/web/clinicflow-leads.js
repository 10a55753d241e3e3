/*
 * clinicflow lead forms and messenger links for a clinic's web pages.
 * Served by clinicflow-leads at GET /v1/leads/snippet.js; no other code is
 * loaded.
 *
 *   <script src="https://leads.example.org/v1/leads/snippet.js" async
 *           data-clinic="demo-center"
 *           data-form-url="https://leads.example.org/v1/hooks/leads/generic/demo-site?token=..."
 *           data-messenger-links></script>
 *
 * Ad tags: the UTM tags and click ids (gclid, yclid, fbclid) of the page a
 * visitor lands on from an ad are kept in this site's localStorage for 30
 * days (a later ad click replaces them), with the referrer and landing
 * page of that visit, so a form sent pages later still carries them; the
 * analytics cookies the site already sets give ym_uid (_ym_uid) and
 * client_id (_ga).
 *
 * Forms (data-form-url): every form sent on the page is also posted to
 * that URL, the generic channel of the network config, as
 * application/x-www-form-urlencoded with the form's own fields (not files
 * or passwords) and the tags its fields do not already hold (the Metrica
 * id as _ym_uid, the generic channel's default field for it); the page's
 * own submit goes on as before. A form with data-clinicflow="off" is left
 * alone; a form with data-clinicflow="only" is posted to the channel only
 * (its own submit is stopped) and gets a "clinicflow:sent" or
 * "clinicflow:failed" event (detail: {status}).
 *
 * Messenger links (data-messenger-links, or window.clinicflowLeads.
 * linkMessengers()): asks the service for an attribution code bound to
 * the tags (POST /v1/leads/codes, once per code's lifetime in this
 * browser) and puts it in the page's t.me links (?start=<code>), wa.me and
 * api.whatsapp.com links (the code at the end of the pre-filled text) and
 * vk.me links (?ref=<code>), so the first message carries it.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var clinic = script.getAttribute("data-clinic");
  var formUrl = script.getAttribute("data-form-url");
  var base = script.getAttribute("data-endpoint") ||
    new URL(script.src, window.location.href).origin;
  var TAGS_KEY = "clinicflow_leads_tags";
  var CODE_KEY = "clinicflow_leads_code";
  var TAGS_DAYS = 30;
  var AD_PARAMS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                   "gclid", "yclid", "fbclid"];

  function store() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function load(key) {
    var s = store();
    try { return s ? JSON.parse(s.getItem(key) || "null") : null; } catch (e) { return null; }
  }

  function save(key, value) {
    var s = store();
    try { if (s) s.setItem(key, JSON.stringify(value)); } catch (e) { /* full or blocked */ }
  }

  function cookie(name) {
    var m = new RegExp("(?:^|;\\s*)" + name + "=([^;]*)").exec(document.cookie);
    return m ? decodeURIComponent(m[1]) : null;
  }

  /* This landing's ad tags, kept when it has any; else the kept ones. */
  function adTags() {
    var q = new URLSearchParams(window.location.search);
    var now = Date.now();
    var fresh = {};
    var any = false;
    AD_PARAMS.forEach(function (name) {
      var v = q.get(name);
      if (v) { fresh[name] = v.slice(0, 500); any = true; }
    });
    if (any) {
      if (document.referrer) fresh.referrer = document.referrer.slice(0, 2000);
      fresh.page_url = (window.location.origin + window.location.pathname).slice(0, 2000);
      save(TAGS_KEY, { at: now, tags: fresh });
      return fresh;
    }
    var kept = load(TAGS_KEY);
    if (kept && kept.tags && now - kept.at < TAGS_DAYS * 86400000) return kept.tags;
    var first = {};
    if (document.referrer && document.referrer.indexOf(window.location.origin) !== 0)
      first.referrer = document.referrer.slice(0, 2000);
    return first;
  }

  /* The tags a request carries: the ad tags, the analytics ids, the page. */
  function visitorTags() {
    var t = {};
    var ad = adTags();
    Object.keys(ad).forEach(function (k) { t[k] = ad[k]; });
    var ym = cookie("_ym_uid");
    if (ym && /^\d{1,32}$/.test(ym)) t.ym_uid = ym;
    var ga = cookie("_ga");
    var m = ga && /^GA\d\.\d\.(\d+\.\d+)$/.exec(ga);
    if (m) t.client_id = m[1];
    if (!t.page_url) t.page_url = (window.location.origin + window.location.pathname).slice(0, 2000);
    return t;
  }

  /* Forms. */

  /* A submission's own id (32 hex digits): the service tells a second,
   * identical submission from a retry of the first by it (without one, the
   * same fields again would be taken for a retry and dropped). */
  function submissionId() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); })
      .join("");
  }

  function formBody(form) {
    var body = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) return;
      var type = (el.type || "").toLowerCase();
      if (type === "file" || type === "password" || type === "submit" || type === "button" ||
          type === "reset" || type === "image") return;
      if ((type === "checkbox" || type === "radio") && !el.checked) return;
      if (el.tagName === "SELECT" && el.multiple) {
        Array.prototype.forEach.call(el.options, function (o) {
          if (o.selected) body.append(el.name, o.value);
        });
        return;
      }
      body.append(el.name, el.value);
    });
    var tags = visitorTags();
    /* the generic channel reads the Metrica id from the cookie's own name */
    if (tags.ym_uid) { tags._ym_uid = tags.ym_uid; delete tags.ym_uid; }
    Object.keys(tags).forEach(function (k) { if (!body.has(k)) body.set(k, tags[k]); });
    if (!body.has("event_id")) body.set("event_id", submissionId());
    return body;
  }

  function onSubmit(e) {
    var form = e.target;
    if (!form || form.tagName !== "FORM") return;
    var mode = form.getAttribute("data-clinicflow");
    if (mode === "off") return;
    var only = mode === "only";
    if (only) e.preventDefault();
    /* A urlencoded POST is a simple cross-origin request: no preflight,
     * and keepalive lets it finish while the page navigates away. */
    fetch(formUrl, { method: "POST", body: formBody(form), keepalive: true, credentials: "omit",
                     mode: only ? "cors" : "no-cors" })
      .then(function (r) {
        if (only)
          form.dispatchEvent(new CustomEvent(r.ok ? "clinicflow:sent" : "clinicflow:failed",
                                             { detail: { status: r.status } }));
      })
      .catch(function () {
        if (only) form.dispatchEvent(new CustomEvent("clinicflow:failed", { detail: { status: 0 } }));
      });
  }

  /* Messenger links. */
  function getCode() {
    var kept = load(CODE_KEY);
    /* reused while it has an hour left, and only for the tags it holds */
    var tags = visitorTags();
    var key = JSON.stringify(tags);
    if (kept && kept.code && kept.key === key && Date.parse(kept.expires_at) - Date.now() > 3600000)
      return Promise.resolve(kept.code);
    var req = { clinic: clinic };
    Object.keys(tags).forEach(function (k) { req[k] = tags[k]; });
    return fetch(base + "/v1/leads/codes", {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(req)
    }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (a) {
        if (!a || typeof a.code !== "string") return Promise.reject(0);
        save(CODE_KEY, { code: a.code, expires_at: a.expires_at, key: key });
        return a.code;
      });
  }

  function withCode(href, code) {
    var u;
    try { u = new URL(href, window.location.href); } catch (e) { return null; }
    var host = u.hostname.toLowerCase();
    if (host === "t.me" || host === "telegram.me") {
      /* t.me/<bot>: a bot's deep link; not channels' or posts' links */
      if (!/^\/[A-Za-z0-9_]{5,32}\/?$/.test(u.pathname)) return null;
      u.searchParams.set("start", code);
    } else if (host === "wa.me" || host === "api.whatsapp.com") {
      var text = (u.searchParams.get("text") || "").replace(/\s*\[[0-9a-z]{10}\]$/, "");
      u.searchParams.set("text", (text ? text + " " : "") + "[" + code + "]");
    } else if (host === "vk.me") {
      u.searchParams.set("ref", code);
    } else {
      return null;
    }
    return u.toString();
  }

  function messengerLinks() {
    return Array.prototype.filter.call(document.querySelectorAll("a[href]"), function (a) {
      return withCode(a.getAttribute("href"), "0000000000") !== null;
    });
  }

  /* Puts a code in every messenger link on the page; resolves to the code,
   * or null when there is none to put (no links, or the service refused). */
  function linkMessengers() {
    var links = messengerLinks();
    if (!links.length || !clinic) return Promise.resolve(null);
    return getCode().then(function (code) {
      messengerLinks().forEach(function (a) {
        var href = withCode(a.getAttribute("href"), code);
        if (href) a.setAttribute("href", href);
      });
      return code;
    }).catch(function () { return null; });
  }

  window.clinicflowLeads = { tags: visitorTags, linkMessengers: linkMessengers };
  adTags(); /* keep this landing's tags at once */
  if (formUrl) document.addEventListener("submit", onSubmit, true);
  if (script.hasAttribute("data-messenger-links")) {
    if (document.readyState === "loading")
      document.addEventListener("DOMContentLoaded", linkMessengers);
    else
      linkMessengers();
  }
})();
