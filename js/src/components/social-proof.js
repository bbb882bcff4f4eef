// <gos-social-proof campaign="activity" write-key="pk_..." interval="6"></gos-social-proof>
// Recent anonymised activity ("Someone in Berlin signed up 5 minutes ago"), one item at a
// time. It rotates on its own, pauses while pointed at or focused, has a pause button, and
// is not announced while it rotates (a screen reader is not interrupted every few seconds).

import { GosElement, esc } from "./base.js";

const CSS = `
.card { grid-template-columns: 1fr auto; align-items: center; }
.item { margin: 0; min-height: 3rem; display: grid; align-content: center; }
.fade { animation: gos-fade 300ms ease-out; }
@keyframes gos-fade { from { opacity: 0; transform: translateY(4px); } to { opacity: 1; transform: none; } }
@media (prefers-reduced-motion: reduce) { .fade { animation: none; } }
button.pause {
  background: transparent; color: var(--_muted); border-color: var(--_border);
  min-width: 2.75rem; padding: 0.25rem 0.5rem; font-size: 0.85em;
}
button.pause[aria-pressed="true"] { background: var(--_accent); border-color: var(--_accent); color: var(--_accent-fg); }
.status { grid-column: 1 / -1; }
`;

export class GosSocialProof extends GosElement {
  static get observedAttributes() {
    return [...super.observedAttributes, "limit"];
  }

  get intervalMs() {
    return Math.max(2, parseFloat(this.getAttribute("interval") || "6")) * 1000;
  }

  start() {
    this.state = "loading";
    this.items = [];
    this.index = 0;
    this.paused = false;
    this.hovered = false;
    const id = this.uid;
    this.render(
      `<section class="card" part="card" aria-label="${esc(this.getAttribute("label") || "Recent activity")}">
        <p class="item" part="item" id="${id}-item" aria-live="off" aria-atomic="true"></p>
        <button type="button" class="pause" part="button pause" aria-pressed="false" hidden>Pause</button>
        <p class="status" part="status" role="status" aria-live="polite"></p>
      </section>`,
      CSS,
    );
    const card = this.$(".card");
    card.addEventListener("mouseenter", () => this.hold(true));
    card.addEventListener("mouseleave", () => this.hold(false));
    card.addEventListener("focusin", () => this.hold(true));
    card.addEventListener("focusout", (event) => {
      if (!card.contains(event.relatedTarget)) this.hold(false);
    });
    this.$(".pause").addEventListener("click", () => this.togglePause());
    this.load();
  }

  stop() {
    clearInterval(this.rotation);
    clearInterval(this.refresher);
    this.rotation = null;
    this.refresher = null;
  }

  async load() {
    const limit = Math.min(50, Math.max(1, parseInt(this.getAttribute("limit") || "10", 10) || 10));
    let feed;
    try {
      feed = await this.api("GET", `/feed?limit=${limit}`);
    } catch (error) {
      this.state = "error";
      this.fail(error);
      return;
    }
    this.items = Array.isArray(feed.items) ? feed.items : [];
    this.index = 0;
    if (this.items.length === 0) {
      this.state = "empty";
      this.$(".card").hidden = true;
    } else {
      this.$(".card").hidden = false;
      this.$(".pause").hidden = this.items.length < 2;
      this.show(false);
      this.state = "ready";
      this.emit("gos-social-proof-loaded", { items: this.items });
    }
    if (!this.rotation && this.items.length > 1) {
      this.rotation = setInterval(() => this.next(), this.intervalMs);
    }
    if (!this.refresher) {
      const refresh = Math.max(10, parseFloat(this.getAttribute("refresh") || "60")) * 1000;
      this.refresher = setInterval(() => this.load(), refresh);
    }
  }

  next() {
    if (this.paused || this.hovered || this.items.length < 2) return;
    this.index = (this.index + 1) % this.items.length;
    this.show(true);
  }

  show(animate) {
    const item = this.items[this.index];
    if (!item) return;
    const p = this.$(".item");
    // The server's text is complete ("Someone in Berlin signed up 5 minutes ago"); the feed
    // is fetched again every `refresh` seconds, so the times stay true.
    p.innerHTML = `<span class="text">${esc(item.text)}</span>`;
    p.dataset.index = String(this.index);
    p.classList.remove("fade");
    if (animate) {
      void p.offsetWidth; // restart the animation
      p.classList.add("fade");
    }
  }

  hold(on) {
    this.hovered = on;
  }

  togglePause() {
    this.paused = !this.paused;
    const button = this.$(".pause");
    button.setAttribute("aria-pressed", String(this.paused));
    // Paused, the item is stable: a screen reader may be told about changes again.
    this.$(".item").setAttribute("aria-live", this.paused ? "polite" : "off");
    this.announce(this.paused ? "Updates paused." : "Updates resumed.");
  }
}
