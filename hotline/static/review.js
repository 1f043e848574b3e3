// Keeps the report queue and the dispatch console current without a page reload.
// Every 30 s it fetches the table body for the same filters and page (the server renders
// that URL into data-refresh-url) and swaps it in, so the user keeps their place.
// Loaded as a file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  var INTERVAL_MS = 30000;
  var table = document.querySelector("table[data-refresh-url]");
  if (!table || !window.fetch) {
    return;
  }
  var url = table.getAttribute("data-refresh-url");
  var busy = false;

  function typingInside(body) {
    // Do not replace a form the user is typing into (the console's call notes).
    var active = document.activeElement;
    return active && body.contains(active) && (active.tagName === "TEXTAREA" || active.tagName === "INPUT");
  }

  function refresh() {
    var body = table.tBodies[0];
    if (busy || document.hidden || !body || typingInside(body)) {
      return;
    }
    busy = true;
    fetch(url, { credentials: "same-origin", redirect: "follow", cache: "no-store" })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          // Signed out (session expired): reload so the sign-in page shows, not stale data.
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && !typingInside(body)) {
          body.innerHTML = html;
        }
      })
      .catch(function () {
        // Offline for a moment: keep what is shown and try again next time.
      })
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(refresh, INTERVAL_MS);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
})();
