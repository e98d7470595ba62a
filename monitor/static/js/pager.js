// Keyset paging over a listing's next_cursor, shared by the History tab and the live
// table: a stack of the cursors of the pages seen (null: the first page), Newer and
// Older buttons and a page label. load(cursor) shows one page and returns its
// next_cursor (null at the end).

import {$} from "./dom.js";

export function pager({older, newer, label, load}) {
  const seen = {cursors: [null], next: null};

  function render() {
    $(label).textContent = `page ${seen.cursors.length}`;
    $(newer).disabled = seen.cursors.length <= 1;
    $(older).disabled = !seen.next;
  }

  async function show() {
    seen.next = await load(seen.cursors[seen.cursors.length - 1]);
    render();
  }

  $(older).addEventListener("click", () => {
    if (seen.next) { seen.cursors.push(seen.next); show(); }
  });
  $(newer).addEventListener("click", () => {
    if (seen.cursors.length > 1) { seen.cursors.pop(); show(); }
  });
  return {
    // Show the current page again, or the first one when reset.
    reload(reset) {
      if (reset) seen.cursors = [null];
      return show();
    },
    get first() { return seen.cursors.length === 1; },
  };
}
