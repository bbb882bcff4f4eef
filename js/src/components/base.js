// What every component shares: its configuration (attributes, else the initialised SDK), the
// campaign API, a shadow root with the house styles, a polite live region, and events.

import { CLIENT } from "../registry.js";
import { deviceId } from "../storage.js";
import { ApiError, SCRIPT_ORIGIN, describe, request } from "./api.js";

/** The styles all components share; each themable with CSS custom properties. */
export const BASE_CSS = `
:host {
  --_accent: var(--gos-accent, #4f46e5);
  --_accent-fg: var(--gos-accent-contrast, #ffffff);
  --_fg: var(--gos-color, #1f2328);
  --_muted: var(--gos-muted, #57606a);
  --_bg: var(--gos-background, #ffffff);
  --_border: var(--gos-border, #d0d7de);
  --_error: var(--gos-error, #b42318);
  --_success: var(--gos-success, #067647);
  --_radius: var(--gos-radius, 8px);
  --_gap: var(--gos-gap, 0.75rem);
  --_pad: var(--gos-padding, 1.25rem);
  display: block;
  box-sizing: border-box;
  max-width: var(--gos-max-width, 32rem);
  color: var(--_fg);
  font-family: var(--gos-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  font-size: var(--gos-font-size, 1rem);
  line-height: 1.5;
}
:host([hidden]), [hidden] { display: none !important; }
*, *::before, *::after { box-sizing: inherit; }
.card {
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  padding: var(--_pad);
  box-shadow: var(--gos-shadow, 0 1px 3px rgb(0 0 0 / 0.08));
  display: grid;
  gap: var(--_gap);
}
h2 { margin: 0; font-size: var(--gos-heading-size, 1.25rem); line-height: 1.3; }
h2:focus { outline: none; }
h2:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
p { margin: 0; }
.muted { color: var(--_muted); }
label, legend { font-weight: 600; }
input[type="email"], input[type="text"], input[type="url"], textarea {
  font: inherit;
  color: var(--_fg);
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: calc(var(--_radius) * 0.75);
  padding: 0.5rem 0.75rem;
  min-height: 2.75rem;
  width: 100%;
}
textarea { min-height: 5rem; resize: vertical; }
input[aria-invalid="true"], textarea[aria-invalid="true"] { border-color: var(--_error); }
button {
  font: inherit;
  font-weight: 600;
  cursor: pointer;
  border: 1px solid var(--_accent);
  border-radius: calc(var(--_radius) * 0.75);
  padding: 0.5rem 1rem;
  min-height: 2.75rem;
  background: var(--_accent);
  color: var(--_accent-fg);
}
button.secondary { background: transparent; color: var(--_accent); }
button[disabled] { opacity: 0.6; cursor: progress; }
:is(input, textarea, button):focus-visible {
  outline: 2px solid var(--gos-focus, var(--_accent));
  outline-offset: 2px;
}
.body { display: grid; gap: var(--_gap); }
.row { display: flex; gap: 0.5rem; align-items: stretch; flex-wrap: wrap; }
.row > input { flex: 1 1 12rem; width: auto; }
.field { display: grid; gap: 0.35rem; }
.error { color: var(--_error); font-size: 0.9em; }
.error:empty { display: none; }
.status { font-size: 0.95em; }
.status:empty { display: none; }
.status.is-error { color: var(--_error); }
.status.is-success { color: var(--_success); }
.hp { position: absolute !important; left: -10000px; top: auto; width: 1px; height: 1px; overflow: hidden; }
.visually-hidden {
  position: absolute !important; width: 1px; height: 1px; margin: -1px; padding: 0;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
`;

/** Escape text for HTML. @param {unknown} value */
export function esc(value) {
  return String(value ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

/** The honeypot: a field people never see or reach, which bots fill in. */
export const HONEYPOT = `
<div class="hp" aria-hidden="true">
  <label>Leave this field empty <input type="text" name="website" tabindex="-1" autocomplete="off"></label>
</div>`;

let counter = 0;
const sheets = new Map();

function supportsSheets() {
  try {
    return "adoptedStyleSheets" in ShadowRoot.prototype && "replaceSync" in CSSStyleSheet.prototype;
  } catch {
    return false;
  }
}

function sheet(css) {
  let made = sheets.get(css);
  if (!made) {
    made = new CSSStyleSheet();
    made.replaceSync(css);
    sheets.set(css, made);
  }
  return made;
}

export class GosElement extends HTMLElement {
  static get observedAttributes() {
    return ["campaign", "write-key", "host", "user-id"];
  }

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this.uid = `gos${++counter}`;
    this._connected = false;
  }

  connectedCallback() {
    if (this._connected) return;
    this._connected = true;
    this.start();
  }

  disconnectedCallback() {
    this._connected = false;
    this.stop();
  }

  attributeChangedCallback(_name, oldValue, newValue) {
    if (this._connected && oldValue !== newValue) {
      this.stop();
      this.start();
    }
  }

  /** Render and load; each component implements it. */
  start() {}

  /** Stop timers; components with timers implement it. */
  stop() {}

  /** The SDK client `growthos.init` made, if any. */
  get sdk() {
    return globalThis[CLIENT] || null;
  }

  /** @returns {{writeKey: string, host: string, campaign: string, userId: string | null, deviceId: string}} */
  get config() {
    const sdk = this.sdk;
    const host = this.getAttribute("host") ?? (sdk ? sdk.host : null) ?? SCRIPT_ORIGIN;
    return {
      writeKey: this.getAttribute("write-key") || (sdk ? sdk.writeKey : "") || "",
      host: String(host || "").replace(/\/+$/, ""),
      campaign: this.getAttribute("campaign") || "",
      userId: this.getAttribute("user-id") || (sdk ? sdk.userId : null) || null,
      deviceId: sdk ? sdk.deviceId : deviceId(),
    };
  }

  /** A call to this campaign's public endpoint `path` (after `/v1/campaigns/{key}`). */
  api(method, path = "", body = undefined, meta = {}) {
    const config = this.config;
    if (!config.campaign || !config.writeKey) {
      return Promise.reject(
        new ApiError(0, "not_configured", "Set the campaign and write-key attributes (or call growthos.init)."),
      );
    }
    const url = `/v1/campaigns/${encodeURIComponent(config.campaign)}${path}`;
    return request(config, method, url, body, meta);
  }

  /** The public campaign: {key, type, name, status, config}. */
  campaign() {
    return this.api("GET");
  }

  /**
   * Put `html` in the shadow root under the shared and the component's styles: constructed
   * style sheets, shared by every instance and allowed by a Content Security Policy without
   * 'unsafe-inline'; a <style> element where a browser lacks them.
   */
  render(html, css = "") {
    const root = this.shadowRoot;
    if (supportsSheets()) {
      root.adoptedStyleSheets = [sheet(BASE_CSS), sheet(css)];
      root.innerHTML = html;
    } else {
      root.innerHTML = `<style>${BASE_CSS}${css}</style>${html}`;
    }
  }

  /** @param {string} selector */
  $(selector) {
    return this.shadowRoot.querySelector(selector);
  }

  /** Say `message` in the component's live region (`kind`: "error", "success" or ""). */
  announce(message, kind = "") {
    const status = this.$(".status");
    if (!status) return;
    status.className = `status${kind ? ` is-${kind}` : ""}`;
    // Emptied first, so that the same message said twice is announced twice.
    status.textContent = "";
    clearTimeout(this._announcing);
    if (message) {
      this._announcing = setTimeout(() => {
        status.textContent = message;
      }, 50);
    }
  }

  /** Tell the page: a `gos-...` event that crosses the shadow boundary. */
  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  /** `state` is reflected as an attribute, for styles and tests: loading, ready, done, ... */
  set state(value) {
    this.setAttribute("state", value);
  }

  /** An error in plain words, and on the console for the developer. */
  fail(error) {
    if (error && error.code === "not_configured") console.error(`<${this.localName}>: ${error.message}`);
    this.announce(describe(error), "error");
  }
}

/** Copy `text`: the Clipboard API, else a selected field and `execCommand`. */
export async function copyText(text, field) {
  try {
    if (navigator.clipboard && globalThis.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall back below */
  }
  if (field) {
    field.focus();
    field.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
  return false;
}
