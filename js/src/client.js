// The browser client: events queued, persisted, sent in batches to the GrowthOS ingest API,
// retried with backoff, and handed to sendBeacon when the page is hidden.

import { uuid } from "./ids.js";
import { PersistentQueue } from "./queue.js";
import { CLIENT } from "./registry.js";
import { deviceId, getItem, getJSON, newDeviceId, removeItem, setItem, setJSON } from "./storage.js";
import { backoffMs, isRetryable, postJSON } from "./transport.js";

/* global __VERSION__ */
export { CLIENT };
export const VERSION = __VERSION__;
export const LIBRARY = `growthos-js/${VERSION}`;

const USER_ID_KEY = "gos_user_id";
const GROUPS_KEY = "gos_groups";
const SESSION_KEY = "gos_session";
/** Browsers allow 64 KiB of beacon data in flight per page; keep a margin. */
const BEACON_MAX_BYTES = 60000;

export const DEFAULTS = Object.freeze({
  host: "",
  flushAt: 20,
  flushInterval: 3000,
  maxBatchSize: 100,
  maxQueueSize: 1000,
  maxAttempts: 10,
  retryBaseMs: 1000,
  retryMaxMs: 60000,
  timeoutMs: 10000,
  sessionTimeoutMs: 30 * 60 * 1000,
  persist: true,
  beacon: true,
  trackPages: false,
  debug: false,
});

/**
 * @typedef {object} EventOptions
 * @property {Date | number | string} [time] when it happened (default: now)
 * @property {string} [insertId] the dedup id (default: a new random UUID)
 * @property {string} [userId] this event's user, instead of the identified one
 * @property {Record<string, any>} [userProperties] user properties sent with a track event
 * @property {Record<string, any>} [ops] identify's property operations ($set_once, $add, ...)
 */

export class Client {
  /** @param {Partial<typeof DEFAULTS> & {writeKey: string, deviceId?: string}} options */
  constructor(options) {
    if (!options || typeof options.writeKey !== "string" || !options.writeKey) {
      throw new TypeError("growthos: init needs a writeKey (the project's public pk_ key)");
    }
    this.options = { ...DEFAULTS, ...options };
    this.writeKey = options.writeKey;
    this.host = String(this.options.host || "").replace(/\/+$/, "");
    this.queue = new PersistentQueue(
      `gos_queue:${this.writeKey}`,
      this.options.maxQueueSize,
      this.options.persist,
    );
    this.deviceId = options.deviceId || deviceId();
    this.userId = getItem(USER_ID_KEY);
    const groups = getJSON(GROUPS_KEY, {});
    this.groups = groups && typeof groups === "object" && !Array.isArray(groups) ? groups : {};
    this.batchLimit = this.options.maxBatchSize;
    this.failures = 0;
    this.retryAt = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.timerDue = 0;
    /** @type {Promise<boolean> | null} */
    this.flushing = null;
    this._listeners = [];
    this._listen();
    globalThis[CLIENT] = this;
    if (this.queue.length > 0) this._schedule(0); // left over from an earlier page
    if (this.options.trackPages) this.page();
  }

  /**
   * Record an event.
   * @param {string} eventType @param {Record<string, any>} [properties]
   * @param {EventOptions} [options]
   * @returns {string | null} the event's insert id
   */
  track(eventType, properties, options = {}) {
    if (typeof eventType !== "string" || eventType === "") {
      this._warn("track needs an event type, e.g. track('signup', {plan: 'pro'})");
      return null;
    }
    return this._enqueue(
      "track",
      {
        event_type: eventType,
        event_properties: object(properties),
        user_properties: object(options.userProperties),
        url: pageUrl(),
      },
      options,
    );
  }

  /**
   * Name the user of this device (kept for later events) and set their properties.
   * @param {string | null} userId @param {Record<string, any>} [userProperties]
   * @param {EventOptions} [options] `ops`: {$set_once, $add, $append, $unset, ...}
   */
  identify(userId, userProperties, options = {}) {
    if (userId != null && userId !== "") {
      this.userId = String(userId);
      setItem(USER_ID_KEY, this.userId);
    }
    return this._enqueue(
      "identify",
      { user_properties: object(userProperties), user_property_ops: object(options.ops) },
      options,
    );
  }

  /**
   * A page view (the current URL, referrer and title).
   * @param {string} [name] @param {Record<string, any>} [properties] @param {EventOptions} [options]
   */
  page(name, properties, options = {}) {
    const doc = globalThis.document;
    return this._enqueue(
      "page",
      {
        name: typeof name === "string" && name ? name : undefined,
        title: doc && doc.title ? doc.title : undefined,
        url: pageUrl(),
        referrer: doc ? doc.referrer || "" : undefined,
        properties: object(properties),
      },
      options,
    );
  }

  /**
   * Put the user in a group; later events carry it in `groups`.
   * @param {string} groupType @param {string | number} groupId
   * @param {Record<string, any>} [groupProperties] @param {EventOptions} [options]
   */
  group(groupType, groupId, groupProperties, options = {}) {
    if (typeof groupType !== "string" || !groupType || groupId == null || groupId === "") {
      this._warn("group needs a group type and a group id, e.g. group('company', 'acme')");
      return null;
    }
    this.groups = { ...this.groups, [groupType]: String(groupId) };
    setJSON(GROUPS_KEY, this.groups);
    return this._enqueue(
      "group",
      { group_type: groupType, group_id: String(groupId), group_properties: object(groupProperties) },
      options,
    );
  }

  /** Forget the user and the groups, and start a new device id and session (on sign-out). */
  reset() {
    this.userId = null;
    this.groups = {};
    removeItem(USER_ID_KEY);
    removeItem(GROUPS_KEY);
    removeItem(SESSION_KEY);
    this.deviceId = newDeviceId();
  }

  /**
   * Send what is queued now (unless a retry is waiting for its time).
   * @returns {Promise<boolean>} true once the queue is empty
   */
  flush() {
    if (!this.flushing) {
      this.flushing = this._drain().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  /** Stop timers and listeners, keeping the queue in storage (a new init replaces this one). */
  shutdown() {
    this._clearTimer();
    for (const [target, type, fn] of this._listeners) target.removeEventListener(type, fn);
    this._listeners = [];
    this.queue.save();
    if (globalThis[CLIENT] === this) delete globalThis[CLIENT];
  }

  /** The current session id (epoch milliseconds of its start, as text). */
  get sessionId() {
    const session = getJSON(SESSION_KEY, null);
    return session ? String(session.id) : null;
  }

  // -- internals ------------------------------------------------------------------------------

  _enqueue(kind, fields, options) {
    const now = Date.now();
    const body = {
      ...fields,
      user_id: options.userId != null ? String(options.userId) : this.userId || undefined,
      device_id: this.deviceId,
      session_id: this._session(now),
      insert_id: typeof options.insertId === "string" && options.insertId ? options.insertId : uuid(),
      time: isoTime(options.time ?? now),
      library: LIBRARY,
    };
    if ((kind === "track" || kind === "page") && Object.keys(this.groups).length > 0) {
      body.groups = { ...this.groups };
    }
    for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
    this.queue.push({ kind, body, attempts: 0 });
    if (this.queue.length >= this.options.flushAt) {
      this.flush();
    } else {
      this._schedule(this.options.flushInterval);
    }
    return body.insert_id;
  }

  _session(now) {
    let session = getJSON(SESSION_KEY, null);
    if (!session || typeof session.last !== "number" || now - session.last > this.options.sessionTimeoutMs) {
      session = { id: now, last: now };
    } else {
      session.last = Math.max(session.last, now);
    }
    setJSON(SESSION_KEY, session);
    return String(session.id);
  }

  async _drain() {
    this._clearTimer();
    while (this.queue.length > 0) {
      if (offline()) return false; // the "online" event starts the next pass
      if (Date.now() < this.retryAt) {
        this._schedule(0); // at retryAt
        return false;
      }
      if (!(await this._sendBatch(this.queue.head(this.batchLimit)))) {
        this._schedule(0);
        return false;
      }
    }
    return true;
  }

  /** One batch, one request per endpoint. @returns {Promise<boolean>} false: retry later */
  async _sendBatch(batch) {
    const byKind = new Map();
    for (const item of batch) {
      if (!byKind.has(item.kind)) byKind.set(item.kind, []);
      byKind.get(item.kind).push(item);
    }
    const answers = await Promise.all(
      [...byKind].map(async ([kind, items]) => ({ kind, items, answer: await this._post(kind, items) })),
    );
    const finished = new Set();
    let failed = false;
    let retryAfterMs = null;
    for (const { kind, items, answer } of answers) {
      const { status } = answer;
      if (status >= 200 && status < 300) {
        for (const item of items) finished.add(item.body.insert_id);
        const rejected = answer.body && Array.isArray(answer.body.rejected) ? answer.body.rejected : [];
        for (const r of rejected) this._warn(`${kind} event refused: ${r.code}: ${r.message}`);
      } else if (status === 413 && items.length > 1) {
        // Too large for the server's limits: send smaller batches (no attempt counted).
        this.batchLimit = Math.max(1, Math.floor(items.length / 2));
      } else if (isRetryable(status)) {
        failed = true;
        if (answer.retryAfterMs != null) retryAfterMs = Math.max(retryAfterMs ?? 0, answer.retryAfterMs);
        for (const item of items) {
          item.attempts += 1;
          if (item.attempts >= this.options.maxAttempts) {
            finished.add(item.body.insert_id);
            this._warn(`${kind} event dropped after ${item.attempts} attempts (last status ${status})`);
          }
        }
        this.queue.changed();
      } else {
        for (const item of items) finished.add(item.body.insert_id);
        const error = answer.body && answer.body.error ? answer.body.error : {};
        this._warn(`${items.length} ${kind} event(s) refused (${status} ${error.code || ""}): ${error.message || ""}`);
      }
    }
    this.queue.remove(finished);
    if (failed) {
      this.failures += 1;
      const wait = backoffMs(this.failures, retryAfterMs, {
        baseMs: this.options.retryBaseMs,
        maxMs: this.options.retryMaxMs,
      });
      this.retryAt = Date.now() + wait;
      this._debug(`retry in ${wait} ms (failure ${this.failures})`);
      return false;
    }
    this.failures = 0;
    this.retryAt = 0;
    return true;
  }

  _post(kind, items) {
    const body = JSON.stringify({ events: items.map((item) => item.body), sent_at: new Date().toISOString() });
    this._debug(`POST /v1/${kind} (${items.length})`);
    return postJSON(`${this.host}/v1/${kind}`, body, { "X-API-Key": this.writeKey }, this.options.timeoutMs);
  }

  /** The page is going away (or to the background): hand the queue to sendBeacon. */
  _beacon() {
    const nav = globalThis.navigator;
    if (!this.options.beacon || !nav || typeof nav.sendBeacon !== "function" || this.queue.length === 0) {
      this.queue.save();
      return;
    }
    const sent = new Set();
    const byKind = new Map();
    for (const item of this.queue.items) {
      if (!byKind.has(item.kind)) byKind.set(item.kind, []);
      byKind.get(item.kind).push(item);
    }
    const key = encodeURIComponent(this.writeKey);
    outer: for (const [kind, items] of byKind) {
      for (const chunk of chunks(items, BEACON_MAX_BYTES)) {
        const body = JSON.stringify({ events: chunk.map((item) => item.body), sent_at: new Date().toISOString() });
        let queued = false;
        try {
          // A string goes as text/plain: a simple request, no CORS preflight, no headers, so
          // the key travels in the query.
          queued = nav.sendBeacon(`${this.host}/v1/${kind}?key=${key}`, body);
        } catch {
          queued = false;
        }
        if (!queued) break outer; // over the browser's budget: the rest waits in storage
        for (const item of chunk) sent.add(item.body.insert_id);
      }
    }
    this.queue.remove(sent);
    this.queue.save();
  }

  _listen() {
    const win = globalThis.window;
    const doc = globalThis.document;
    if (!win || typeof win.addEventListener !== "function") return;
    const on = (target, type, fn) => {
      target.addEventListener(type, fn);
      this._listeners.push([target, type, fn]);
    };
    on(win, "pagehide", () => this._beacon());
    if (doc) {
      on(doc, "visibilitychange", () => {
        if (doc.visibilityState === "hidden") this._beacon();
      });
    }
    on(win, "online", () => {
      this.retryAt = 0;
      this.failures = 0;
      this.flush();
    });
  }

  _schedule(delayMs) {
    const due = Math.max(Date.now() + delayMs, this.retryAt);
    if (this.timer && this.timerDue <= due) return;
    this._clearTimer();
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, Math.max(0, due - Date.now()));
  }

  _clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  _warn(message) {
    if (globalThis.console) console.warn(`growthos: ${message}`);
  }

  _debug(message) {
    if (this.options.debug && globalThis.console) console.debug(`growthos: ${message}`);
  }
}

function object(value) {
  return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
}

function pageUrl() {
  const loc = globalThis.location;
  return loc && /^https?:$/.test(loc.protocol) ? loc.href : undefined;
}

function offline() {
  const nav = globalThis.navigator;
  return Boolean(nav && nav.onLine === false);
}

/** @param {Date | number | string} time */
function isoTime(time) {
  if (typeof time === "string") return time;
  const date = time instanceof Date ? time : new Date(time);
  return Number.isNaN(date.getTime()) ? new Date().toISOString() : date.toISOString();
}

/** Items in groups whose JSON stays under `maxBytes` (a lone larger item gets its own). */
function* chunks(items, maxBytes) {
  const encoder = new TextEncoder();
  let chunk = [];
  let size = 64; // the envelope: {"events":[...],"sent_at":"..."}
  for (const item of items) {
    const itemSize = encoder.encode(JSON.stringify(item.body)).length + 1;
    if (chunk.length > 0 && size + itemSize > maxBytes) {
      yield chunk;
      chunk = [];
      size = 64;
    }
    chunk.push(item);
    size += itemSize;
  }
  if (chunk.length > 0) yield chunk;
}
