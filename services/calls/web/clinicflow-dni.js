/*
 * clinicflow dynamic number insertion for a clinic's web pages.
 *
 *   <a data-clinicflow-phone href="tel:+74950000101">+7 495 000-01-01</a>
 *   <script src="/clinicflow-dni.js" data-clinic="demo-center"
 *           data-endpoint="https://calls.example.org/v1/tracking/number" async></script>
 *
 * Every element with data-clinicflow-phone gets the number the service
 * holds for this visitor (text and tel: link). The visitor id lives in
 * localStorage; the UTM tags, gclid/yclid, referrer and landing page of the
 * first page of the visit go with each request. The number is asked for
 * again at half the hold while the page is shown, and when a page comes
 * back into view or out of the browser's cache, so a visitor who reads
 * for long never shows a number the service has given to someone else.
 * When the service has no number for the visitor (the pool is in use, or
 * anything fails) the page shows the number it was served with.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var clinic = script.getAttribute("data-clinic");
  var endpoint = script.getAttribute("data-endpoint");
  if (!clinic || !endpoint) return;

  function visitorId() {
    var key = "clinicflow_visitor";
    try {
      var id = window.localStorage.getItem(key);
      if (!id) {
        id = "v" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
        window.localStorage.setItem(key, id);
      }
      return id;
    } catch (e) {
      return null; /* storage blocked: keep the page's number */
    }
  }

  function firstTouch() {
    var key = "clinicflow_touch";
    try {
      var saved = window.sessionStorage.getItem(key);
      if (saved) return JSON.parse(saved);
    } catch (e) { /* fall through */ }
    var q = new URLSearchParams(window.location.search);
    var touch = {};
    ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "gclid", "yclid"]
      .forEach(function (name) { if (q.get(name)) touch[name] = q.get(name); });
    if (document.referrer) touch.referrer = document.referrer;
    touch.landing = window.location.origin + window.location.pathname;
    try { window.sessionStorage.setItem(key, JSON.stringify(touch)); } catch (e) { /* ignore */ }
    return touch;
  }

  function display(e164) {
    var m = /^\+7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(e164);
    return m ? "+7 (" + m[1] + ") " + m[2] + "-" + m[3] + "-" + m[4] : e164;
  }

  /* Shows number (E.164) on every phone element, or, with null, the
   * number each was served with. */
  function show(number) {
    document.querySelectorAll("[data-clinicflow-phone]").forEach(function (el) {
      if (!el.hasAttribute("data-clinicflow-served")) {
        el.setAttribute("data-clinicflow-served", el.textContent);
        el.setAttribute("data-clinicflow-served-href", el.getAttribute("href") || "");
      }
      if (number) {
        el.textContent = display(number);
        if (el.tagName === "A") el.setAttribute("href", "tel:" + number);
      } else {
        el.textContent = el.getAttribute("data-clinicflow-served");
        var href = el.getAttribute("data-clinicflow-served-href");
        if (href) el.setAttribute("href", href);
      }
    });
  }

  var visitor = visitorId();
  if (!visitor) return;
  var params = new URLSearchParams(firstTouch());
  params.set("clinic", clinic);
  params.set("visitor", visitor);
  var timer = null;

  function ask() {
    if (timer) { clearTimeout(timer); timer = null; }
    fetch(endpoint + "?" + params.toString(), { credentials: "omit", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        var held = answer && answer.dynamic === true && answer.number;
        show(held ? answer.number : null);
        if (held && answer.hold_seconds > 0 && document.visibilityState !== "hidden")
          timer = setTimeout(ask, answer.hold_seconds * 500);
      })
      .catch(function () { show(null); });
  }

  function start() {
    ask();
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") ask();
    });
    window.addEventListener("pageshow", function (e) { if (e.persisted) ask(); });
  }

  /* An async script can run before the rest of the page is parsed. */
  if (document.readyState === "loading")
    document.addEventListener("DOMContentLoaded", start);
  else
    start();
})();
