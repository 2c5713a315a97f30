// The UI's only script besides htmx: "Copy output" buttons copy the text of the element
// named by their data-copy attribute. Loaded as a file: the pages allow no inline script.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  const source = button && document.getElementById(button.dataset.copy);
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.innerText).then(() => {
      button.textContent = "Copied";
    });
  }
});
