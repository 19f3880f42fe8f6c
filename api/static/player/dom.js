// Small helpers to build the page's elements without HTML strings (text is always text).

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function $(selector) {
  return document.querySelector(selector);
}

const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : TIME.format(date);
}

// "3 minutes ago", for a session's last activity.
export function ago(iso) {
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(seconds)) return "";
  const words = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (Math.abs(seconds) < 60) return words.format(-seconds, "second");
  if (Math.abs(seconds) < 3600) return words.format(-Math.round(seconds / 60), "minute");
  if (Math.abs(seconds) < 86400) return words.format(-Math.round(seconds / 3600), "hour");
  return words.format(-Math.round(seconds / 86400), "day");
}

// One panel (share or timeline) open at a time, so the story keeps its room.
export function closePanels() {
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = true;
  for (const button of document.querySelectorAll("[aria-controls$='-panel']")) {
    button.setAttribute("aria-expanded", "false");
  }
}
