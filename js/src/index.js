// The SDK as an ES module: `import growthos from ".../public/growthos.mjs"`, or the named
// functions. One client per page, made by `init`; `new Client(...)` makes others.

import { CLIENT, Client, DEFAULTS, LIBRARY, VERSION } from "./client.js";

/** @type {Client | null} */
let current = null;

/**
 * Start the SDK: `init({writeKey: "pk_...", host: "https://growthos.example.com"})`.
 * @param {ConstructorParameters<typeof Client>[0]} options
 * @returns {Client}
 */
export function init(options) {
  if (current) current.shutdown();
  current = new Client(options);
  return current;
}

function need(name) {
  if (!current) {
    console.warn(`growthos: call init({writeKey, host}) before ${name}()`);
  }
  return current;
}

/** @param {Parameters<Client["track"]>} args */
export function track(...args) {
  const c = need("track");
  return c ? c.track(...args) : null;
}

/** @param {Parameters<Client["identify"]>} args */
export function identify(...args) {
  const c = need("identify");
  return c ? c.identify(...args) : null;
}

/** @param {Parameters<Client["page"]>} args */
export function page(...args) {
  const c = need("page");
  return c ? c.page(...args) : null;
}

/** @param {Parameters<Client["group"]>} args */
export function group(...args) {
  const c = need("group");
  return c ? c.group(...args) : null;
}

/** Send what is queued now. @returns {Promise<boolean>} */
export function flush() {
  return current ? current.flush() : Promise.resolve(true);
}

/** Forget the user (sign-out): a new device id, no user id, no groups. */
export function reset() {
  if (current) current.reset();
}

/** The client `init` made, or null. */
export function getClient() {
  return current;
}

export { CLIENT, Client, DEFAULTS, LIBRARY, VERSION };

const growthos = { init, track, identify, page, group, flush, reset, getClient, Client, VERSION };
export default growthos;
