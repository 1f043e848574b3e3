// Keeps the report queue and the dispatch console current without a page reload.
// Every 30 s it fetches the table body for the same filters and page (the server renders
// that URL into data-refresh-url) and swaps it in, so the user keeps their place.
// Loaded as a file: the Content-Security-Policy allows no inline script.
// Content that changes by itself must be possible to pause (WCAG 2.2.2): the page's
// #refresh-control (hidden until this script runs) holds a button that pauses and resumes
// the updates, and a status line that announces the change. The choice is kept for the tab.
(function () {
  "use strict";

  var INTERVAL_MS = 30000;
  var table = document.querySelector("table[data-refresh-url]");
  if (!table || !window.fetch) {
    return;
  }
  var url = table.getAttribute("data-refresh-url");
  var busy = false;
  var PAUSED_KEY = "hotline.refresh-paused";
  var paused = readPaused();
  var control = document.getElementById("refresh-control");
  var toggle = document.getElementById("refresh-toggle");
  var state = document.getElementById("refresh-state");

  function readPaused() {
    try {
      return window.sessionStorage.getItem(PAUSED_KEY) === "1";
    } catch (e) {
      return false; // storage refused (private mode): start running, as without the script
    }
  }

  function keepPaused(value) {
    try {
      if (value) {
        window.sessionStorage.setItem(PAUSED_KEY, "1");
      } else {
        window.sessionStorage.removeItem(PAUSED_KEY);
      }
    } catch (e) {
      // Not kept past this page; the button still works.
    }
  }

  function showState(announce) {
    // The button says what it will do; the status line (role=status) is read out when it
    // changes, so the new state is announced.
    toggle.textContent = paused ? "Resume automatic updates" : "Pause automatic updates";
    if (announce) {
      state.textContent = paused
        ? "Automatic updates are paused. Reload the page to see new entries."
        : "Automatic updates are on: this list updates itself every 30 seconds.";
    }
  }

  if (control && toggle && state) {
    control.hidden = false;
    showState(paused);
    toggle.addEventListener("click", function () {
      paused = !paused;
      keepPaused(paused);
      showState(true);
      if (!paused) {
        refresh();
      }
    });
  }

  function typingInside(body) {
    // Do not replace a form the user is typing into, or has typed into and left (the
    // console's call notes): the refresh would throw their words away.
    var active = document.activeElement;
    if (active && body.contains(active) && (active.tagName === "TEXTAREA" || active.tagName === "INPUT")) {
      return true;
    }
    var fields = body.querySelectorAll("textarea, input[type=text]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value.trim() !== "") {
        return true;
      }
    }
    return false;
  }

  function focusedRow(body) {
    // The row (by its report or call id) and the link in it that has keyboard focus.
    var active = document.activeElement;
    if (!active || !body.contains(active) || active.tagName !== "A") {
      return null;
    }
    var row = active.closest("tr[data-report-id], tr[data-call-id]");
    if (!row) {
      return null;
    }
    var key = row.hasAttribute("data-report-id") ? "data-report-id" : "data-call-id";
    return { selector: "tr[" + key + '="' + row.getAttribute(key) + '"] a', href: active.getAttribute("href") };
  }

  function restoreFocus(body, focus) {
    if (!focus) {
      return;
    }
    var links = body.querySelectorAll(focus.selector);
    for (var i = 0; i < links.length; i++) {
      if (links[i].getAttribute("href") === focus.href) {
        links[i].focus({ preventScroll: true });
        return;
      }
    }
  }

  function refresh() {
    var body = table.tBodies[0];
    if (paused || busy || document.hidden || !body || typingInside(body)) {
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
          // Keyboard users keep their place: the same row's link gets focus back.
          var focus = focusedRow(body);
          body.innerHTML = html;
          restoreFocus(body, focus);
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
