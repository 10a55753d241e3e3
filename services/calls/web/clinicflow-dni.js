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
 * first page of the visit go with each request (a page whose address has
 * tags of its own, a new ad click in the same tab, starts a new visit: its
 * first request says so, new_visit=1, and the service keeps the number and
 * gives the visit a session of its own with its tags). The number is asked for
 * again at half the hold while the page is shown, and when a page comes
 * back into view or out of the browser's cache, so a visitor who reads
 * for long never shows a number the service has given to someone else.
 * When the service has no number for the visitor (the pool is in use, or
 * it cannot be reached, or cannot reach its store, and the last hold has
 * ended) the page shows what it was served with, markup and link as they
 * were.
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

  /* Set by firstTouch: this page's address has tags other than the visit's
   * so far (a new ad click), which the service keeps as a new visit. */
  var newVisit = false;

  function firstTouch() {
    var key = "clinicflow_touch";
    var names = ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "gclid",
                 "yclid"];
    var q = new URLSearchParams(window.location.search);
    var tagged = names.some(function (name) { return q.get(name); });
    var saved = null;
    try { saved = window.sessionStorage.getItem(key); } catch (e) { /* none */ }
    if (!tagged && saved) {
      try { return JSON.parse(saved); } catch (e) { /* fall through */ }
    }
    var touch = {};
    names.forEach(function (name) { if (q.get(name)) touch[name] = q.get(name); });
    if (document.referrer) touch.referrer = document.referrer;
    touch.landing = window.location.origin + window.location.pathname;
    var text = JSON.stringify(touch);
    newVisit = tagged && text !== saved;
    try { window.sessionStorage.setItem(key, text); } catch (e) { /* ignore */ }
    return touch;
  }

  function display(e164) {
    var m = /^\+7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(e164);
    return m ? "+7 (" + m[1] + ") " + m[2] + "-" + m[3] + "-" + m[4] : e164;
  }

  /* What each phone element was served with, to put back. */
  var served = new WeakMap();

  /* Shows number (E.164) on every phone element, or, with null, what each
   * was served with (its markup and link as they were). */
  function show(number) {
    document.querySelectorAll("[data-clinicflow-phone]").forEach(function (el) {
      if (number) {
        if (!served.has(el)) served.set(el, { html: el.innerHTML, href: el.getAttribute("href") });
        el.textContent = display(number);
        if (el.tagName === "A") el.setAttribute("href", "tel:" + number);
      } else if (served.has(el)) {
        var was = served.get(el);
        el.innerHTML = was.html;
        if (was.href !== null) el.setAttribute("href", was.href);
        served.delete(el);
      }
    });
  }

  var visitor = visitorId();
  if (!visitor) return;
  var params = new URLSearchParams(firstTouch());
  params.set("clinic", clinic);
  params.set("visitor", visitor);
  var timer = null;
  var held = null;    /* the number shown, while it is the visitor's */
  var heldUntil = 0;  /* the service keeps it the visitor's until then at least */
  var holdMs = 0;
  var lastAsk = 0;

  function later(ms) {
    if (document.visibilityState !== "hidden") timer = setTimeout(ask, ms);
  }

  function ask() {
    if (timer) { clearTimeout(timer); timer = null; }
    lastAsk = Date.now();
    /* the page's first ask only: its later ones extend the same visit */
    var query = params.toString() + (newVisit ? "&new_visit=1" : "");
    newVisit = false;
    fetch(endpoint + "?" + query, { credentials: "omit", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (answer) {
        if (answer && answer.dynamic === true && answer.number && answer.hold_seconds > 0) {
          held = answer.number;
          holdMs = answer.hold_seconds * 1000;
          heldUntil = Date.now() + holdMs;
          show(held);
          later(holdMs / 2);
        } else if (answer && answer.unavailable === true) {
          keepOrGiveUp(); /* the service could not reach its store */
        } else { /* the service has no number for the visitor */
          held = null;
          show(null);
        }
      })
      .catch(keepOrGiveUp);
  }

  /* Refused (429), unreachable, or without its store: a number given stays
   * the visitor's until its hold ends; ask again before that, then give it
   * up. */
  function keepOrGiveUp() {
    var left = heldUntil - Date.now();
    if (held && left > 0) {
      later(Math.min(30000, left / 2));
    } else {
      held = null;
      show(null);
    }
  }

  function start() {
    ask();
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState !== "visible") return;
      /* Back in view: ask if the last answer is getting old (not on every
       * switch of tabs, which would only spend the rate limit). */
      if (Date.now() - lastAsk >= Math.min(30000, holdMs ? holdMs / 4 : 30000)) ask();
      else if (!timer && held) later(Math.max(0, heldUntil - holdMs / 2 - Date.now()));
    });
    window.addEventListener("pageshow", function (e) { if (e.persisted) ask(); });
  }

  /* An async script can run before the rest of the page is parsed. */
  if (document.readyState === "loading")
    document.addEventListener("DOMContentLoaded", start);
  else
    start();
})();
