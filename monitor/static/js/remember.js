// The page's display choices (theme, time zone), remembered in this browser's
// localStorage; where storage is off, a choice lasts for the page only.

// The value saved under `key` when it is one of `choices`, else the first choice.
export function remembered(key, choices) {
  try {
    const saved = localStorage.getItem(key);
    return choices.includes(saved) ? saved : choices[0];
  } catch {
    return choices[0];
  }
}

export function remember(key, value) {
  try { localStorage.setItem(key, value); } catch { /* storage off: this page only */ }
}
