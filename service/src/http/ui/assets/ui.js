// The UI's only script besides htmx, loaded as a file: the pages allow no inline script.
// "Copy output" buttons copy the text of the element named by their data-copy attribute.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  const source = button && document.getElementById(button.dataset.copy);
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.innerText).then(() => {
      button.textContent = "Copied";
    });
  }
});

// Leaving a form marked data-unsaved-warning with edits not saved asks first (the browser's own
// prompt): after typing in it, or when the server rendered it from a draft not saved yet
// (data-unsaved). Sending that form is not leaving it; any other form (signing out) is.
let unsaved = document.querySelector("form[data-unsaved-warning][data-unsaved]") !== null;
document.addEventListener("input", (event) => {
  if (event.target.closest("form[data-unsaved-warning]")) {
    unsaved = true;
  }
});
document.addEventListener("submit", (event) => {
  if (event.target.closest("form[data-unsaved-warning]")) {
    unsaved = false;
  }
});
window.addEventListener("beforeunload", (event) => {
  if (unsaved) {
    event.preventDefault();
    event.returnValue = "";
  }
});

// A table that scrolls sideways (on a narrow screen) takes focus, so that a keyboard reaches
// and scrolls it even when it holds no link or control; one that fits takes none.
function focusScrollingTables() {
  for (const table of document.querySelectorAll("main table")) {
    if (table.scrollWidth > table.clientWidth) {
      table.tabIndex = 0;
    } else {
      table.removeAttribute("tabindex");
    }
  }
}
focusScrollingTables();
window.addEventListener("resize", focusScrollingTables);
document.addEventListener("htmx:afterSettle", focusScrollingTables);
