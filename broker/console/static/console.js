// StreamHouse console: reloads <main data-refresh="ms"> in place with fetch, without reloading the page.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.refresh) return;
  var every = parseInt(live.dataset.refresh, 10);
  function refresh() {
    // Skip a round while the user is typing in a form on the page.
    if (document.activeElement && live.contains(document.activeElement) &&
        /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (!text) return;
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("live");
        if (fresh) {
          live.innerHTML = fresh.innerHTML;
          live.dataset.refreshed = String(Date.now());
        }
      })
      .catch(function () { /* the broker may be restarting: try again next round */ });
  }
  window.setInterval(refresh, every);
})();
