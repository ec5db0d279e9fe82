/* Small browser helpers for the views: find and build elements, and storage that may be
 * blocked (private windows, locked-down profiles) without breaking the page.
 */

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/**
 * An element: `props` sets `class`, `text`, `data-*` attributes and other properties
 * (null/false skipped); children are nodes or strings.
 */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

/** An SVG element with these attributes. */
export function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

/** window.sessionStorage or localStorage when it works, else null. */
function safeStorage(kind) {
  try {
    const s = window[kind];
    const probe = "__fleet_probe__";
    s.setItem(probe, "1");
    s.removeItem(probe);
    return s;
  } catch {
    return null;
  }
}

export const session = safeStorage("sessionStorage");
export const local = safeStorage("localStorage");
