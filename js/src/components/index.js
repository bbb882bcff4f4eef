// The GrowthOS web components: <gos-waitlist>, <gos-referral>, <gos-survey>,
// <gos-social-proof>. Loading this module (or gos-components.js) defines them.

import { GosElement } from "./base.js";
import { GosReferral } from "./referral.js";
import { GosSocialProof } from "./social-proof.js";
import { GosSurvey } from "./survey.js";
import { GosWaitlist } from "./waitlist.js";

export const ELEMENTS = {
  "gos-waitlist": GosWaitlist,
  "gos-referral": GosReferral,
  "gos-survey": GosSurvey,
  "gos-social-proof": GosSocialProof,
};

if (typeof customElements !== "undefined") {
  for (const [name, element] of Object.entries(ELEMENTS)) {
    if (!customElements.get(name)) customElements.define(name, element);
  }
}

export { GosElement, GosReferral, GosSocialProof, GosSurvey, GosWaitlist };
