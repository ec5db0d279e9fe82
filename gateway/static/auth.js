/* The access token: from ?access_token= (then removed from the address bar) or this tab's
 * session storage, and the form that asks for one when the gateway answers 401.
 */

import { params } from "./config.js";
import { $, session } from "./dom.js";

const TOKEN_KEY = "fleet-dashboard.token";

/** The current token ("" for none) and the pending question, while the form is shown. */
export const auth = { token: "", asking: null };

/** Take the token from the URL or this tab's storage. */
export function initToken() {
  const fromUrl = params.get("access_token");
  if (fromUrl) {
    auth.token = fromUrl;
    if (session) session.setItem(TOKEN_KEY, fromUrl);
    // Keep the token out of the address bar (screenshots, shared links, history).
    const rest = new URLSearchParams(location.search);
    rest.delete("access_token");
    const q = rest.toString();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
  } else if (session) {
    auth.token = session.getItem(TOKEN_KEY) || "";
  }
}

/**
 * Show the token form; resolves once the user gave one. Asking again while the form is
 * shown gives the same promise. `onShow` runs when the form appears.
 */
export function askToken(message, onShow) {
  if (auth.asking) return auth.asking;
  if (onShow) onShow();
  $("auth-msg").textContent = message || "This gateway needs a bearer token to show fleet data.";
  $("auth").hidden = false;
  $("auth-token").value = "";
  $("auth-token").focus();
  auth.asking = new Promise((resolve) => {
    const form = $("auth-form");
    const submit = (ev) => {
      ev.preventDefault();
      const token = $("auth-token").value.trim();
      if (!token) return;
      form.removeEventListener("submit", submit);
      auth.token = token;
      if (session) session.setItem(TOKEN_KEY, token);
      $("auth").hidden = true;
      auth.asking = null;
      resolve(token);
    };
    form.addEventListener("submit", submit);
  });
  return auth.asking;
}
