// The Job id cell of the job tables: a short id, and a button that copies the full id
// (kept in the button's data-copy attribute).

import {el} from "./dom.js";

const SHORT = 8;  // characters of an id shown in a table

export function shortId(id) {
  return id.length > SHORT + 1 ? `${id.slice(0, SHORT)}…` : id;
}

async function copy(button) {
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.dataset.copied = "true";
    button.textContent = "copied";
  } catch (error) {
    button.textContent = "copy failed";
    console.warn("regiq: copy failed", error);
  }
}

export function idCell(id) {
  const button = el("button", {type: "button", class: "ghost copy-id", dataset: {copy: id},
                               title: "Copy the full id", "aria-label": `Copy job id ${id}`}, "copy");
  button.addEventListener("click", (event) => { event.stopPropagation(); copy(button); });
  button.addEventListener("keydown", (event) => event.stopPropagation());  // Enter copies, not opens
  return el("td", {class: "job-id"}, el("code", {title: id}, shortId(id)), " ", button);
}
