// The SDK as a classic script: `window.growthos`. Calls queued by the loader snippet before
// the script arrived (`window.growthos = [["init", {...}], ["track", "signup"]]`) are replayed,
// and `<script src=".../growthos.js" data-write-key="pk_...">` initialises it by itself.

import growthos from "./index.js";

const script = typeof document !== "undefined" ? document.currentScript : null;
const pending = Array.isArray(globalThis.growthos) ? globalThis.growthos.slice() : [];

globalThis.growthos = growthos;

const writeKey = script && script.dataset ? script.dataset.writeKey : undefined;
if (writeKey) {
  growthos.init({
    writeKey,
    host: script.dataset.host || new URL(script.src, location.href).origin,
    trackPages: script.dataset.trackPages === "true",
  });
}

for (const call of pending) {
  if (!Array.isArray(call) || typeof growthos[call[0]] !== "function") continue;
  try {
    growthos[call[0]](...call.slice(1));
  } catch (error) {
    console.error("growthos:", error);
  }
}
