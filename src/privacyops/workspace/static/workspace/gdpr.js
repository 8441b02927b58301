// Opens and closes the erase confirmation dialogs (no inline script: the CSP forbids it).
document.addEventListener("click", function (event) {
  var opener = event.target.closest("[data-open-dialog]");
  if (opener) {
    var dialog = document.getElementById(opener.dataset.openDialog);
    if (dialog) { dialog.showModal(); }
    return;
  }
  var closer = event.target.closest("[data-close-dialog]");
  if (closer) { closer.closest("dialog").close(); }
});
