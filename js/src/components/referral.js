// <gos-referral campaign="friends" write-key="pk_..." user-id="u-42" leaderboard="5">
// The signed-in person's referral code and link (with a copy button), their counts and
// rewards, and optionally the programme's leaderboard.

import { GosElement, copyText, esc } from "./base.js";

const CSS = `
.code { font-family: var(--gos-mono-font, ui-monospace, SFMono-Regular, Menlo, monospace); font-weight: 700; }
dl.stats { display: flex; gap: 1.5rem; margin: 0; }
dl.stats div { display: grid; }
dl.stats dt { color: var(--_muted); font-size: 0.9em; order: 2; }
dl.stats dd { margin: 0; font-size: 1.5em; font-weight: 700; order: 1; }
ul.rewards { margin: 0; padding-left: 1.25rem; }
.earned { color: var(--_success); }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.25rem; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--_border); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
`;

export class GosReferral extends GosElement {
  static get observedAttributes() {
    return [...super.observedAttributes, "leaderboard"];
  }

  start() {
    this.state = "loading";
    this.draw("", "");
    this.load();
  }

  draw(title, body) {
    const id = this.uid;
    this.render(
      `<section class="card" part="card" aria-labelledby="${id}-title">
        <h2 id="${id}-title" part="heading">${esc(title || this.getAttribute("heading") || "Invite your friends")}</h2>
        <div class="body">${body}</div>
        <p class="status" part="status" role="status" aria-live="polite"></p>
      </section>`,
      CSS,
    );
  }

  async load() {
    const config = this.config;
    let campaign;
    try {
      campaign = await this.campaign();
    } catch (error) {
      this.state = "error";
      this.fail(error);
      return;
    }
    const settings = campaign.config || {};
    const title = this.getAttribute("heading") || settings.title || campaign.name;
    if (!config.userId) {
      this.draw(title, `<p class="muted">Sign in to get your referral link.</p>`);
      this.state = "anonymous";
      return;
    }
    try {
      const limit = parseInt(this.getAttribute("leaderboard") || "0", 10);
      const [mine, board] = await Promise.all([
        this.api("POST", "/referrals/code", {
          user_id: config.userId,
          display_name: this.getAttribute("display-name") || undefined,
          page_url: location.href,
        }),
        limit > 0 ? this.api("GET", `/leaderboard?limit=${Math.min(limit, 100)}`) : null,
      ]);
      this.draw(title, this.body(mine, board, settings));
      this.bind(mine);
      this.referral = mine;
      this.state = "ready";
      this.emit("gos-referral-ready", mine);
    } catch (error) {
      this.state = "error";
      this.fail(error);
    }
  }

  body(mine, board, settings) {
    const id = this.uid;
    const rewards = Array.isArray(mine.rewards) ? mine.rewards : [];
    const next = mine.next_reward;
    return `
      ${settings.description ? `<p class="muted" part="description">${esc(settings.description)}</p>` : ""}
      <div class="field">
        <label for="${id}-link">Your referral link</label>
        <div class="row">
          <input id="${id}-link" part="input" type="url" readonly value="${esc(mine.link)}">
          <button type="button" part="button copy" data-copy aria-describedby="${id}-code">Copy link</button>
        </div>
        <p id="${id}-code" class="muted">Your code: <span class="code">${esc(mine.code)}</span></p>
      </div>
      <dl class="stats" part="stats">
        <div><dt>Friends referred</dt><dd>${esc(mine.referrals ?? 0)}</dd></div>
        <div><dt>Converted</dt><dd>${esc(mine.conversions ?? 0)}</dd></div>
      </dl>
      ${next ? `<p class="next" part="next-reward">${esc(nextReward(next, mine))}</p>` : ""}
      ${rewards.length ? `<div><p id="${id}-rewards"><strong>Rewards</strong></p>
        <ul class="rewards" aria-labelledby="${id}-rewards">${rewards.map((r) => rewardItem(r)).join("")}</ul></div>` : ""}
      ${board ? leaderboard(board, settings) : ""}`;
  }

  bind(mine) {
    const copy = this.$("[data-copy]");
    copy.addEventListener("click", async () => {
      const ok = await copyText(mine.link, this.$("input"));
      this.announce(ok ? "Link copied to the clipboard." : "Select the link and copy it.", ok ? "success" : "");
    });
  }
}

/** A reward of the programme: earned, or how far away. */
function rewardItem(reward) {
  const name = reward.description ? `${reward.name}: ${reward.description}` : reward.name;
  const metric = reward.metric === "conversions" ? "conversions" : "referrals";
  const state = reward.earned
    ? `<strong class="earned">Earned</strong>`
    : `<span class="muted">${esc(reward.threshold)} ${metric}, ${esc(reward.remaining)} to go</span>`;
  return `<li class="${reward.earned ? "is-earned" : ""}">${esc(name)} (${state})</li>`;
}

function nextReward(next, mine) {
  const metric = next.metric || "referrals";
  const left = next.remaining ?? Math.max(0, Number(next.threshold || 0) - Number(mine[metric] ?? 0));
  const noun = metric === "conversions"
    ? (left === 1 ? "friend who converts" : "friends who convert")
    : (left === 1 ? "friend" : "friends");
  return `${left} more ${noun} to unlock ${next.name}.`;
}

function leaderboard(board, settings) {
  const entries = Array.isArray(board.entries) ? board.entries : [];
  if (entries.length === 0) return "";
  const rows = entries
    .map(
      (e) => `<tr><td class="num">${esc(e.rank)}</td><td>${esc(e.name)}</td>
        <td class="num">${esc(e.referrals)}</td><td class="num">${esc(e.conversions)}</td></tr>`,
    )
    .join("");
  const by = settings.leaderboard_metric === "conversions" ? "conversions" : "referrals";
  return `<table part="leaderboard">
    <caption>Top referrers, by ${by}</caption>
    <thead><tr><th scope="col" class="num">Rank</th><th scope="col">Name</th>
      <th scope="col" class="num">Referrals</th><th scope="col" class="num">Conversions</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}
