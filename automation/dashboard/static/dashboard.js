"use strict";
// Live refresh: every [data-live] element takes the content of the same element in a fresh copy of
// the page, every <body data-refresh> seconds. A region holding the keyboard focus is left as it is.
(function () {
  const regions = () => Array.from(document.querySelectorAll("[data-live]"));
  if (regions().length === 0) return;
  const every = 1000 * Number(document.body.dataset.refresh || "5");
  const stamp = document.getElementById("updated");
  function say(text, stale) {
    stamp.textContent = text;
    stamp.classList.toggle("stale", stale);
  }
  async function refresh() {
    try {
      const response = await fetch(window.location.href, {
        headers: { "X-Dashboard-Refresh": "1" },
        cache: "no-store",
        credentials: "same-origin",
      });
      if (response.status === 401) {
        window.location.reload();
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const region of regions()) {
        const next = fresh.getElementById(region.id);
        if (next && !region.contains(document.activeElement)) region.innerHTML = next.innerHTML;
      }
      say("live: updated " + new Date().toLocaleTimeString(), false);
    } catch (error) {
      say("refresh failed (" + error.message + "), retrying", true);
    }
    window.setTimeout(refresh, every);
  }
  window.setTimeout(refresh, every);
  const outcome = document.getElementById("outcome");
  if (outcome) outcome.focus();
})();
