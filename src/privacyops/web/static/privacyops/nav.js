// The header's menu button on phones: shows and hides the navigation (no inline script: CSP).
document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.classList.add("js");
  const button = document.querySelector(".nav-toggle");
  const topbar = document.querySelector(".topbar");
  if (!button || !topbar) return;
  button.addEventListener("click", () => {
    const open = topbar.classList.toggle("open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
});
