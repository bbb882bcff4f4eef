// What the SDK keeps in the browser: localStorage when it works, a first-party cookie for the
// device id when it does not (Safari's private mode, storage switched off), memory last.

import { uuid } from "./ids.js";

export const DEVICE_ID_KEY = "gos_device_id";
const COOKIE_MAX_AGE_S = 400 * 24 * 3600; // the longest a browser keeps a cookie

const memory = new Map();

function local() {
  try {
    const ls = globalThis.localStorage;
    const probe = "gos_probe";
    ls.setItem(probe, "1");
    ls.removeItem(probe);
    return ls;
  } catch {
    return null;
  }
}

/** @param {string} key @returns {string | null} */
export function getItem(key) {
  const ls = local();
  if (ls) {
    try {
      return ls.getItem(key);
    } catch {
      /* fall through to memory */
    }
  }
  return memory.has(key) ? memory.get(key) : null;
}

/**
 * @param {string} key @param {string} value
 * @returns {boolean} whether it reached persistent storage
 */
export function setItem(key, value) {
  memory.set(key, value);
  const ls = local();
  if (!ls) return false;
  try {
    ls.setItem(key, value);
    return true;
  } catch {
    return false; // the quota is full: memory keeps it for this page
  }
}

/** @param {string} key */
export function removeItem(key) {
  memory.delete(key);
  const ls = local();
  if (ls) {
    try {
      ls.removeItem(key);
    } catch {
      /* nothing to do */
    }
  }
}

/** @param {string} key @param {any} fallback */
export function getJSON(key, fallback) {
  const raw = getItem(key);
  if (raw == null) return fallback;
  try {
    return JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** @param {string} key @param {any} value */
export function setJSON(key, value) {
  return setItem(key, JSON.stringify(value));
}

function readCookie(name) {
  try {
    for (const part of document.cookie.split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === name) return decodeURIComponent(v.join("="));
    }
  } catch {
    /* no document, or cookies blocked */
  }
  return null;
}

function writeCookie(name, value) {
  try {
    const secure = globalThis.location && location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${name}=${encodeURIComponent(value)}; Max-Age=${COOKIE_MAX_AGE_S}; Path=/; SameSite=Lax${secure}`;
  } catch {
    /* cookies blocked: memory only */
  }
}

/**
 * The browser's anonymous device id: created once, then read back from localStorage (or the
 * `gos_device_id` cookie where localStorage cannot be used).
 * @returns {string}
 */
export function deviceId() {
  let id = getItem(DEVICE_ID_KEY) || readCookie(DEVICE_ID_KEY);
  if (!id) id = uuid();
  if (!setItem(DEVICE_ID_KEY, id)) writeCookie(DEVICE_ID_KEY, id);
  return id;
}

/** A new device id (after `reset()`). @returns {string} */
export function newDeviceId() {
  const id = uuid();
  if (!setItem(DEVICE_ID_KEY, id)) writeCookie(DEVICE_ID_KEY, id);
  return id;
}
