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
 * first page of the visit go with each request. When anything fails the
 * page keeps the number it was served with.
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

  var visitor = visitorId();
  if (!visitor) return;
  var params = new URLSearchParams(firstTouch());
  params.set("clinic", clinic);
  params.set("visitor", visitor);
  fetch(endpoint + "?" + params.toString(), { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (answer) {
      if (!answer || !answer.number) return;
      document.querySelectorAll("[data-clinicflow-phone]").forEach(function (el) {
        el.textContent = display(answer.number);
        if (el.tagName === "A") el.setAttribute("href", "tel:" + answer.number);
      });
    })
    .catch(function () { /* keep the page's number */ });
})();
