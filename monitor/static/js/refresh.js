// A tab's periodic read: `load()` at once when the tab is shown, then every `everyMs`
// while it is shown and the page visible, and again when the page becomes visible.

export function readWhileShown(load, everyMs) {
  let shown = false, timer = null;
  document.addEventListener("visibilitychange", () => { if (shown && !document.hidden) load(); });
  return {
    get shown() { return shown; },
    // Called on every tab change.
    show(next) {
      if (next === shown) return;
      shown = next;
      clearInterval(timer);
      timer = shown ? setInterval(() => { if (!document.hidden) load(); }, everyMs) : null;
      if (shown) load();
    },
  };
}
