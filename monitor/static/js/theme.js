// The colour theme: the system's (prefers-color-scheme) unless the header's choice says
// light or dark, remembered in localStorage. The stylesheet reads <html data-theme>,
// always "light" or "dark", kept current when the system setting changes.

import {remember, remembered} from "./remember.js";

const KEY = "regiq.theme";
const CHOICES = ["system", "light", "dark"];  // the first is the default

function apply(choice, systemDark) {
  const root = document.documentElement;
  root.dataset.themeChoice = choice;
  root.dataset.theme = choice === "system" ? (systemDark ? "dark" : "light") : choice;
}

export function setupTheme(select) {
  const system = window.matchMedia("(prefers-color-scheme: dark)");
  let choice = remembered(KEY, CHOICES);
  select.value = choice;
  apply(choice, system.matches);
  system.addEventListener("change", () => apply(choice, system.matches));
  select.addEventListener("change", () => {
    choice = CHOICES.includes(select.value) ? select.value : "system";
    remember(KEY, choice);
    apply(choice, system.matches);
  });
}
