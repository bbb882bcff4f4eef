// <gos-waitlist campaign="launch" write-key="pk_..."></gos-waitlist>
// An email signup that answers with the person's place on the list and their referral link.
// The signup id stays in localStorage, so a returning visitor sees their current place.

import { getJSON, removeItem, setJSON } from "../storage.js";
import { ApiError } from "./api.js";
import { GosElement, HONEYPOT, copyText, esc } from "./base.js";

const CSS = `
.joined { display: grid; gap: var(--_gap); }
.position { font-size: 1.1em; }
.position strong { font-size: 1.6em; color: var(--_accent); margin-right: 0.25rem; }
.position:focus { outline: none; }
.position:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
`;

export class GosWaitlist extends GosElement {
  static get observedAttributes() {
    return [...super.observedAttributes, "referral-code"];
  }

  get storageKey() {
    return `gos_waitlist:${this.config.campaign}`;
  }

  start() {
    this.state = "loading";
    this.draw({});
    this.load();
  }

  async load() {
    let campaign = null;
    try {
      campaign = await this.campaign();
    } catch (error) {
      this.state = "error";
      this.$("form").hidden = true;
      this.fail(error);
      return;
    }
    this.settings = campaign.config || {};
    this.draw(this.settings, campaign.name);
    const saved = getJSON(this.storageKey, null);
    if (saved && typeof saved.signup_id === "string") {
      try {
        const signup = await this.api("GET", `/waitlist/${encodeURIComponent(saved.signup_id)}`);
        this.joined(signup, { focus: false });
        return;
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) removeItem(this.storageKey);
      }
    }
    this.state = "ready";
  }

  draw(config, name = "") {
    const id = this.uid;
    const title = this.getAttribute("heading") || config.title || name || "Join the waitlist";
    const label = this.getAttribute("label") || "Email address";
    const button = this.getAttribute("button-label") || config.button_text || "Join the waitlist";
    this.render(
      `<section class="card" part="card" aria-labelledby="${id}-title">
        <h2 id="${id}-title" part="heading">${esc(title)}</h2>
        ${config.description ? `<p class="muted" part="description">${esc(config.description)}</p>` : ""}
        <form part="form" novalidate>
          <div class="field">
            <label for="${id}-email">${esc(label)}</label>
            <div class="row">
              <input id="${id}-email" part="input" type="email" name="email" autocomplete="email"
                required aria-required="true" aria-describedby="${id}-email-error">
              <button type="submit" part="button">${esc(button)}</button>
            </div>
            <p id="${id}-email-error" class="error" part="error"></p>
          </div>
          ${HONEYPOT}
        </form>
        <div class="joined" part="result" hidden></div>
        <p class="status" part="status" role="status" aria-live="polite"></p>
      </section>`,
      CSS,
    );
    this.$("form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  fieldError(message) {
    const input = this.$("input[name=email]");
    const error = this.$(".error");
    error.textContent = message;
    input.setAttribute("aria-invalid", message ? "true" : "false");
    if (message) input.focus();
  }

  referralCode() {
    const explicit = this.getAttribute("referral-code");
    if (explicit) return explicit;
    try {
      const param = this.getAttribute("ref-param") || "ref";
      return new URL(location.href).searchParams.get(param) || undefined;
    } catch {
      return undefined;
    }
  }

  async submit() {
    const form = this.$("form");
    const input = form.elements.namedItem("email");
    const email = input.value.trim();
    if (!email || !input.checkValidity()) {
      this.fieldError(
        email ? "Enter an email address like name@example.com." : "Enter your email address.",
      );
      return;
    }
    this.fieldError("");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    this.setAttribute("aria-busy", "true");
    this.announce("Joining the waitlist…");
    try {
      const meta = {};
      const body = {
        email,
        referral_code: this.referralCode(),
        website: form.elements.namedItem("website").value,
        page_url: location.href,
      };
      const signup = await this.api("POST", "/waitlist", body, meta);
      setJSON(this.storageKey, { signup_id: signup.signup_id });
      // 200: this email was on the list already (the same answer as its signup).
      this.joined(signup, { focus: true, again: meta.status === 200 });
      this.emit("gos-waitlist-joined", signup);
    } catch (error) {
      const fieldDetail = error instanceof ApiError && error.status === 400
        && (error.details || []).some((d) => d && d.field === "email");
      if (fieldDetail) {
        this.fieldError(error.message);
        this.announce("");
      } else {
        this.fail(error);
      }
    } finally {
      button.disabled = false;
      this.removeAttribute("aria-busy");
    }
  }

  /** Show the place on the list and the referral link. */
  joined(signup, { focus, again = false }) {
    const id = this.uid;
    const config = this.settings || {};
    this.$("form").hidden = true;
    const box = this.$(".joined");
    const places = config.places_per_referral;
    const share = places
      ? `Share your link: you move up ${places} places for each friend who joins.`
      : "Share your link with friends.";
    box.innerHTML = `
      <p class="position" tabindex="-1"><strong>#${esc(signup.position)}</strong>
        You are number ${esc(signup.position)} of ${esc(signup.total)} on the waitlist.</p>
      ${signup.invited ? `<p class="invited" part="invited">You are invited: check your email.</p>` : ""}
      ${signup.referrals ? `<p class="muted">${esc(signup.referrals)} ${signup.referrals === 1 ? "friend has" : "friends have"} joined with your link.</p>` : ""}
      ${config.success_message ? `<p>${esc(config.success_message)}</p>` : ""}
      ${signup.referral_link ? `
      <div class="field">
        <label for="${id}-link">${esc(share)}</label>
        <div class="row">
          <input id="${id}-link" part="input" type="url" readonly value="${esc(signup.referral_link)}">
          <button type="button" class="secondary" part="button copy" data-copy>Copy link</button>
        </div>
      </div>` : ""}`;
    box.hidden = false;
    const copy = box.querySelector("[data-copy]");
    if (copy) {
      copy.addEventListener("click", async () => {
        const field = box.querySelector("input");
        const ok = await copyText(signup.referral_link, field);
        this.announce(ok ? "Link copied to the clipboard." : "Select the link and copy it.", ok ? "success" : "");
      });
    }
    this.state = "joined";
    this.signup = signup;
    if (focus) {
      box.querySelector(".position").focus();
      this.announce(again ? "You are already on the waitlist." : "You joined the waitlist.", "success");
    }
  }
}
