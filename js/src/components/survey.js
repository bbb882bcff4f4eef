// <gos-survey campaign="nps" write-key="pk_..."></gos-survey>
// The questions the campaign asks this person (single and multiple choice, rating, text), if
// the survey targets them; answers are validated here and by the server, then stored.

import { ApiError } from "./api.js";
import { GosElement, HONEYPOT, esc } from "./base.js";

const CSS = `
fieldset { border: 0; margin: 0; padding: 0; display: grid; gap: 0.4rem; min-width: 0; }
legend { padding: 0; margin-bottom: 0.4rem; }
.req { font-weight: 400; color: var(--_muted); font-size: 0.9em; }
.options { display: grid; gap: 0.35rem; }
.opt { display: flex; gap: 0.5rem; align-items: center; font-weight: 400; cursor: pointer; }
.opt input { width: 1.15rem; height: 1.15rem; margin: 0; accent-color: var(--_accent); }
.scale { display: flex; flex-wrap: wrap; gap: 0.35rem; }
.scale label { position: relative; font-weight: 600; }
.scale input { position: absolute; opacity: 0; width: 100%; height: 100%; margin: 0; cursor: pointer; }
.scale span {
  display: inline-flex; align-items: center; justify-content: center;
  min-width: 2.75rem; min-height: 2.75rem; padding: 0 0.5rem;
  border: 1px solid var(--_border); border-radius: calc(var(--_radius) * 0.75); background: var(--_bg);
}
.scale input:checked + span { background: var(--_accent); border-color: var(--_accent); color: var(--_accent-fg); }
.scale input:focus-visible + span { outline: 2px solid var(--gos-focus, var(--_accent)); outline-offset: 2px; }
.thanks:focus { outline: none; }
.questions { display: grid; gap: 1.25rem; }
`;

export class GosSurvey extends GosElement {
  start() {
    this.state = "loading";
    this.render("", CSS);
    this.load();
  }

  async load() {
    const { userId, deviceId } = this.config;
    const who = new URLSearchParams();
    if (userId) who.set("user_id", userId);
    if (deviceId) who.set("device_id", deviceId);
    let campaign;
    let survey;
    try {
      [campaign, survey] = await Promise.all([this.campaign(), this.api("GET", `/survey?${who}`)]);
    } catch (error) {
      this.draw("", "");
      this.state = "error";
      this.fail(error);
      return;
    }
    const settings = campaign.config || {};
    this.questions = Array.isArray(survey.questions) ? survey.questions : [];
    if (!survey.eligible || this.questions.length === 0) {
      // Not for this person (targeting, or already answered): nothing to show.
      this.render("", CSS);
      this.state = "ineligible";
      return;
    }
    const id = this.uid;
    this.draw(
      this.getAttribute("heading") || settings.title || campaign.name,
      `${settings.description ? `<p class="muted" part="description">${esc(settings.description)}</p>` : ""}
      <form part="form" novalidate aria-labelledby="${id}-title">
        <div class="questions">${this.questions.map((q) => this.question(q)).join("")}</div>
        ${HONEYPOT}
        <div><button type="submit" part="button">${esc(this.getAttribute("button-label") || "Send answers")}</button></div>
      </form>`,
    );
    this.$("form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.state = "ready";
  }

  draw(title, body) {
    const id = this.uid;
    this.render(
      `<section class="card" part="card" aria-labelledby="${id}-title">
        <h2 id="${id}-title" part="heading">${esc(title || "Survey")}</h2>
        <div class="body">${body}</div>
        <p class="status" part="status" role="status" aria-live="polite"></p>
      </section>`,
      CSS,
    );
  }

  question(q) {
    const base = `${this.uid}-${q.id}`;
    const req = q.required ? ` <span class="req">(required)</span>` : "";
    const error = `<p id="${base}-error" class="error" part="error"></p>`;
    const name = esc(q.id);
    if (q.type === "text") {
      const max = Number(q.max_length) || 1000;
      return `<div class="field q" data-q="${name}">
        <label for="${base}">${esc(q.prompt)}${req}</label>
        <textarea id="${base}" name="${name}" maxlength="${max}" ${q.required ? 'required aria-required="true"' : ""}
          aria-describedby="${base}-error"></textarea>${error}</div>`;
    }
    let controls;
    if (q.type === "rating") {
      const min = Number(q.min ?? 1);
      const max = Number(q.max ?? 5);
      const steps = [];
      for (let v = min; v <= max; v++) {
        steps.push(`<label><input type="radio" name="${name}" value="${v}"><span>${v}</span></label>`);
      }
      controls = `<div class="scale">${steps.join("")}</div>`;
    } else {
      const type = q.type === "multiple" ? "checkbox" : "radio";
      const options = Array.isArray(q.options) ? q.options : [];
      controls = `<div class="options">${options
        .map((o) => `<label class="opt"><input type="${type}" name="${name}" value="${esc(o)}"> ${esc(o)}</label>`)
        .join("")}</div>`;
    }
    const hint = q.type === "multiple" ? ` <span class="req">(choose any)</span>` : "";
    return `<fieldset class="q" data-q="${name}" aria-describedby="${base}-error">
      <legend>${esc(q.prompt)}${req}${hint}</legend>${controls}${error}</fieldset>`;
  }

  answers() {
    const form = this.$("form");
    const answers = {};
    for (const q of this.questions) {
      const inputs = [...form.querySelectorAll(`[name="${CSS_escape(q.id)}"]`)];
      let value;
      if (q.type === "text") {
        value = inputs[0].value.trim() || undefined;
      } else if (q.type === "multiple") {
        const chosen = inputs.filter((i) => i.checked).map((i) => i.value);
        value = chosen.length ? chosen : undefined;
      } else {
        const chosen = inputs.find((i) => i.checked);
        value = chosen ? (q.type === "rating" ? Number(chosen.value) : chosen.value) : undefined;
      }
      if (value !== undefined) answers[q.id] = value;
    }
    return answers;
  }

  /** Show (or clear) the error of question `qid`; the first one shown gets the focus. */
  questionError(qid, message) {
    const box = this.$(`.q[data-q="${CSS_escape(qid)}"]`);
    if (!box) return null;
    box.querySelector(".error").textContent = message;
    const target = box.matches("fieldset") ? box : box.querySelector("textarea");
    if (message) target.setAttribute("aria-invalid", "true");
    else target.removeAttribute("aria-invalid");
    return box.querySelector("input, textarea");
  }

  async submit() {
    const answers = this.answers();
    let first = null;
    for (const q of this.questions) {
      const missing = q.required && answers[q.id] === undefined;
      const control = this.questionError(q.id, missing ? "Please answer this question." : "");
      if (missing && !first) first = control;
    }
    if (first) {
      first.focus();
      this.announce("Some required questions are not answered yet.", "error");
      return;
    }
    const form = this.$("form");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    this.setAttribute("aria-busy", "true");
    const { userId, deviceId } = this.config;
    const body = { answers, website: form.elements.namedItem("website").value, page_url: location.href };
    if (userId) body.user_id = userId;
    else body.device_id = deviceId;
    try {
      await this.api("POST", "/responses", body);
      this.thank("Thank you for your answers.");
      this.emit("gos-survey-answered", { answers });
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        this.thank("You have already answered this survey. Thank you.");
        return;
      }
      let shown = false;
      if (error instanceof ApiError && error.status === 400) {
        // invalid_answers lists {question, code, message} per problem.
        for (const d of error.details || []) {
          if (d && typeof d.question === "string") {
            const control = this.questionError(d.question, d.message || error.message);
            if (control && !shown) control.focus();
            shown = shown || Boolean(control);
          }
        }
      }
      if (shown) this.announce("Some answers need another look.", "error");
      else this.fail(error);
    } finally {
      button.disabled = false;
      this.removeAttribute("aria-busy");
    }
  }

  thank(message) {
    const body = this.$(".body");
    body.innerHTML = `<p class="thanks" part="thanks" tabindex="-1">${esc(this.getAttribute("thanks") || message)}</p>`;
    body.querySelector(".thanks").focus();
    this.state = "done";
  }
}

/** `CSS.escape` where it exists (every current browser). */
function CSS_escape(value) {
  return globalThis.CSS && CSS.escape ? CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
}
