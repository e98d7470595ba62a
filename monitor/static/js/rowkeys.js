// Keyboard use of the job tables: a row that opens a job (tr[data-job-id] with a
// tabindex) opens it on Enter or Space while it has the focus, as a click does. One
// listener for every table, rows added later included.

export function setupRowKeys() {
  document.addEventListener("keydown", (event) => {
    const row = event.target;
    if (!(row instanceof HTMLTableRowElement) || !row.dataset.jobId) return;
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    row.click();
  });
}
