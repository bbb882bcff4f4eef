// The queue of events not yet acknowledged, kept in localStorage so that a reload or a closed
// tab does not lose them. Bounded: past `max` items the oldest are dropped.

import { getJSON, removeItem, setJSON } from "./storage.js";

/** @typedef {"track" | "identify" | "page" | "group"} Kind */
/** @typedef {{kind: Kind, body: Record<string, any>, attempts: number}} Item */

export const KINDS = ["track", "identify", "page", "group"];

export class PersistentQueue {
  /**
   * @param {string} key the localStorage key
   * @param {number} max the most items kept
   * @param {boolean} persist whether to use localStorage at all
   */
  constructor(key, max, persist) {
    this.key = key;
    this.max = max;
    this.persist = persist;
    this.dropped = 0;
    /** @type {Item[]} */
    this.items = persist ? load(key).slice(-max) : [];
    this._saving = false;
  }

  get length() {
    return this.items.length;
  }

  /** @param {Item} item */
  push(item) {
    this.items.push(item);
    while (this.items.length > this.max) {
      this.items.shift();
      this.dropped += 1;
    }
    this.changed();
  }

  /** @param {number} n @returns {Item[]} */
  head(n) {
    return this.items.slice(0, n);
  }

  /** Remove the items whose insert ids are in `ids`. @param {Set<string>} ids */
  remove(ids) {
    if (ids.size === 0) return;
    this.items = this.items.filter((item) => !ids.has(item.body.insert_id));
    this.changed();
  }

  clear() {
    this.items = [];
    if (this.persist) removeItem(this.key);
  }

  /** Save soon: once for all the changes made by the running task. */
  changed() {
    if (!this.persist || this._saving) return;
    this._saving = true;
    Promise.resolve().then(() => {
      this._saving = false;
      this.save();
    });
  }

  /** Save now (the page is being hidden). */
  save() {
    if (!this.persist) return;
    if (this.items.length === 0) {
      removeItem(this.key);
    } else if (!setJSON(this.key, this.items)) {
      // The storage quota is full: keep the newest half rather than nothing.
      setJSON(this.key, this.items.slice(-Math.ceil(this.items.length / 2)));
    }
  }
}

/** @param {string} key @returns {Item[]} */
function load(key) {
  const stored = getJSON(key, []);
  if (!Array.isArray(stored)) return [];
  return stored.filter(
    (item) =>
      item &&
      KINDS.includes(item.kind) &&
      item.body &&
      typeof item.body === "object" &&
      typeof item.body.insert_id === "string",
  ).map((item) => ({ kind: item.kind, body: item.body, attempts: Number(item.attempts) || 0 }));
}
