// Cornerstone's own small enhancements; every page works without them.
"use strict";
document.addEventListener("submit", (event) => {
  // One click, one submission: the button is disabled once its form is on its way. (Money forms
  // carry an idempotency key as well, so a second submission would not move money twice.)
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || event.defaultPrevented) return;
  window.setTimeout(() => {
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
  }, 0);
});
