/*! gos-components.js growthos-js 0.1.0 | Apache-2.0 | sources sha256:beaea189400a81e22134a95c3157c89a397e06a0e32b10f0761fe9ba84b86d0a */
(()=>{var A=Symbol.for("growthos.client");function E(){let i=globalThis.crypto;if(i&&typeof i.randomUUID=="function")return i.randomUUID();let t=new Uint8Array(16);if(i&&typeof i.getRandomValues=="function")i.getRandomValues(t);else for(let e=0;e<16;e++)t[e]=Math.floor(Math.random()*256);t[6]=t[6]&15|64,t[8]=t[8]&63|128;let r=Array.from(t,e=>e.toString(16).padStart(2,"0")).join("");return`${r.slice(0,8)}-${r.slice(8,12)}-${r.slice(12,16)}-${r.slice(16,20)}-${r.slice(20)}`}var g="gos_device_id",G=400*24*3600,b=new Map;function S(){try{let i=globalThis.localStorage,t="gos_probe";return i.setItem(t,"1"),i.removeItem(t),i}catch{return null}}function I(i){let t=S();if(t)try{return t.getItem(i)}catch{}return b.has(i)?b.get(i):null}function T(i,t){b.set(i,t);let r=S();if(!r)return!1;try{return r.setItem(i,t),!0}catch{return!1}}function q(i){b.delete(i);let t=S();if(t)try{t.removeItem(i)}catch{}}function C(i,t){let r=I(i);if(r==null)return t;try{return JSON.parse(r)}catch{return t}}function L(i,t){return T(i,JSON.stringify(t))}function Y(i){try{for(let t of document.cookie.split(";")){let[r,...e]=t.trim().split("=");if(r===i)return decodeURIComponent(e.join("="))}}catch{}return null}function K(i,t){try{let r=globalThis.location&&location.protocol==="https:"?"; Secure":"";document.cookie=`${i}=${encodeURIComponent(t)}; Max-Age=${G}; Path=/; SameSite=Lax${r}`}catch{}}function N(){let i=I(g)||Y(g);return i||(i=E()),T(g,i)||K(g,i),i}var k=typeof document<"u"?document.currentScript:null,j=k&&k.src?new URL(k.src,globalThis.location?location.href:void 0).origin:"",p=class extends Error{constructor(t,r,e,o=[]){super(e),this.name="ApiError",this.status=t,this.code=r,this.details=o}};async function M(i,t,r,e,o={}){let s={"X-API-Key":i.writeKey};e!==void 0&&(s["Content-Type"]="application/json");let a;try{a=await fetch(`${i.host}${r}`,{method:t,headers:s,body:e===void 0?void 0:JSON.stringify(e),credentials:"omit"})}catch{throw new p(0,"network_error","The server could not be reached.")}o.status=a.status;let d=null;try{d=await a.json()}catch{d=null}if(!a.ok){let c=d&&d.error||{};throw new p(a.status,c.code||`http_${a.status}`,c.message||`The request failed (${a.status}).`,c.details||[])}return d}function R(i){return i instanceof p?i.status===0?"We could not reach the server. Check your connection and try again.":i.status===429?"Too many attempts. Please wait a moment and try again.":i.status>=500?"Something went wrong on our side. Please try again in a moment.":i.code==="campaign_not_found"?"This campaign is not available.":i.message:"Something went wrong. Please try again."}var P=`
:host {
  --_accent: var(--gos-accent, #4f46e5);
  --_accent-fg: var(--gos-accent-contrast, #ffffff);
  --_fg: var(--gos-color, #1f2328);
  --_muted: var(--gos-muted, #57606a);
  --_bg: var(--gos-background, #ffffff);
  --_border: var(--gos-border, #d0d7de);
  --_error: var(--gos-error, #b42318);
  --_success: var(--gos-success, #067647);
  --_radius: var(--gos-radius, 8px);
  --_gap: var(--gos-gap, 0.75rem);
  --_pad: var(--gos-padding, 1.25rem);
  display: block;
  box-sizing: border-box;
  max-width: var(--gos-max-width, 32rem);
  color: var(--_fg);
  font-family: var(--gos-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  font-size: var(--gos-font-size, 1rem);
  line-height: 1.5;
}
:host([hidden]), [hidden] { display: none !important; }
*, *::before, *::after { box-sizing: inherit; }
.card {
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  padding: var(--_pad);
  box-shadow: var(--gos-shadow, 0 1px 3px rgb(0 0 0 / 0.08));
  display: grid;
  gap: var(--_gap);
}
h2 { margin: 0; font-size: var(--gos-heading-size, 1.25rem); line-height: 1.3; }
h2:focus { outline: none; }
h2:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
p { margin: 0; }
.muted { color: var(--_muted); }
label, legend { font-weight: 600; }
input[type="email"], input[type="text"], input[type="url"], textarea {
  font: inherit;
  color: var(--_fg);
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: calc(var(--_radius) * 0.75);
  padding: 0.5rem 0.75rem;
  min-height: 2.75rem;
  width: 100%;
}
textarea { min-height: 5rem; resize: vertical; }
input[aria-invalid="true"], textarea[aria-invalid="true"] { border-color: var(--_error); }
button {
  font: inherit;
  font-weight: 600;
  cursor: pointer;
  border: 1px solid var(--_accent);
  border-radius: calc(var(--_radius) * 0.75);
  padding: 0.5rem 1rem;
  min-height: 2.75rem;
  background: var(--_accent);
  color: var(--_accent-fg);
}
button.secondary { background: transparent; color: var(--_accent); }
button[disabled] { opacity: 0.6; cursor: progress; }
:is(input, textarea, button):focus-visible {
  outline: 2px solid var(--gos-focus, var(--_accent));
  outline-offset: 2px;
}
.body { display: grid; gap: var(--_gap); }
.row { display: flex; gap: 0.5rem; align-items: stretch; flex-wrap: wrap; }
.row > input { flex: 1 1 12rem; width: auto; }
.field { display: grid; gap: 0.35rem; }
.error { color: var(--_error); font-size: 0.9em; }
.error:empty { display: none; }
.status { font-size: 0.95em; }
.status:empty { display: none; }
.status.is-error { color: var(--_error); }
.status.is-success { color: var(--_success); }
.hp { position: absolute !important; left: -10000px; top: auto; width: 1px; height: 1px; overflow: hidden; }
.visually-hidden {
  position: absolute !important; width: 1px; height: 1px; margin: -1px; padding: 0;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
`;function n(i){return String(i??"").replace(/[&<>"']/g,t=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"})[t])}var y=`
<div class="hp" aria-hidden="true">
  <label>Leave this field empty <input type="text" name="website" tabindex="-1" autocomplete="off"></label>
</div>`,J=0,O=new Map;function D(){try{return"adoptedStyleSheets"in ShadowRoot.prototype&&"replaceSync"in CSSStyleSheet.prototype}catch{return!1}}function z(i){let t=O.get(i);return t||(t=new CSSStyleSheet,t.replaceSync(i),O.set(i,t)),t}var m=class extends HTMLElement{static get observedAttributes(){return["campaign","write-key","host","user-id"]}constructor(){super(),this.attachShadow({mode:"open"}),this.uid=`gos${++J}`,this._connected=!1}connectedCallback(){this._connected||(this._connected=!0,this.start())}disconnectedCallback(){this._connected=!1,this.stop()}attributeChangedCallback(t,r,e){this._connected&&r!==e&&(this.stop(),this.start())}start(){}stop(){}get sdk(){return globalThis[A]||null}get config(){let t=this.sdk,r=this.getAttribute("host")??(t?t.host:null)??j;return{writeKey:this.getAttribute("write-key")||(t?t.writeKey:"")||"",host:String(r||"").replace(/\/+$/,""),campaign:this.getAttribute("campaign")||"",userId:this.getAttribute("user-id")||(t?t.userId:null)||null,deviceId:t?t.deviceId:N()}}api(t,r="",e=void 0,o={}){let s=this.config;if(!s.campaign||!s.writeKey)return Promise.reject(new p(0,"not_configured","Set the campaign and write-key attributes (or call growthos.init)."));let a=`/v1/campaigns/${encodeURIComponent(s.campaign)}${r}`;return M(s,t,a,e,o)}campaign(){return this.api("GET")}render(t,r=""){let e=this.shadowRoot;D()?(e.adoptedStyleSheets=[z(P),z(r)],e.innerHTML=t):e.innerHTML=`<style>${P}${r}</style>${t}`}$(t){return this.shadowRoot.querySelector(t)}announce(t,r=""){let e=this.$(".status");e&&(e.className=`status${r?` is-${r}`:""}`,e.textContent="",clearTimeout(this._announcing),t&&(this._announcing=setTimeout(()=>{e.textContent=t},50)))}emit(t,r){this.dispatchEvent(new CustomEvent(t,{detail:r,bubbles:!0,composed:!0}))}set state(t){this.setAttribute("state",t)}fail(t){t&&t.code==="not_configured"&&console.error(`<${this.localName}>: ${t.message}`),this.announce(R(t),"error")}};async function v(i,t){try{if(navigator.clipboard&&globalThis.isSecureContext)return await navigator.clipboard.writeText(i),!0}catch{}if(t){t.focus(),t.select();try{return document.execCommand("copy")}catch{return!1}}return!1}var H=`
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
`,$=class extends m{static get observedAttributes(){return[...super.observedAttributes,"leaderboard"]}start(){this.state="loading",this.draw("",""),this.load()}draw(t,r){let e=this.uid;this.render(`<section class="card" part="card" aria-labelledby="${e}-title">
        <h2 id="${e}-title" part="heading">${n(t||this.getAttribute("heading")||"Invite your friends")}</h2>
        <div class="body">${r}</div>
        <p class="status" part="status" role="status" aria-live="polite"></p>
      </section>`,H)}async load(){let t=this.config,r;try{r=await this.campaign()}catch(s){this.state="error",this.fail(s);return}let e=r.config||{},o=this.getAttribute("heading")||e.title||r.name;if(!t.userId){this.draw(o,'<p class="muted">Sign in to get your referral link.</p>'),this.state="anonymous";return}try{let s=parseInt(this.getAttribute("leaderboard")||"0",10),[a,d]=await Promise.all([this.api("POST","/referrals/code",{user_id:t.userId,display_name:this.getAttribute("display-name")||void 0,page_url:location.href}),s>0?this.api("GET",`/leaderboard?limit=${Math.min(s,100)}`):null]);this.draw(o,this.body(a,d,e)),this.bind(a),this.referral=a,this.state="ready",this.emit("gos-referral-ready",a)}catch(s){this.state="error",this.fail(s)}}body(t,r,e){let o=this.uid,s=Array.isArray(t.rewards)?t.rewards:[],a=t.next_reward;return`
      ${e.description?`<p class="muted" part="description">${n(e.description)}</p>`:""}
      <div class="field">
        <label for="${o}-link">Your referral link</label>
        <div class="row">
          <input id="${o}-link" part="input" type="url" readonly value="${n(t.link)}">
          <button type="button" part="button copy" data-copy aria-describedby="${o}-code">Copy link</button>
        </div>
        <p id="${o}-code" class="muted">Your code: <span class="code">${n(t.code)}</span></p>
      </div>
      <dl class="stats" part="stats">
        <div><dt>Friends referred</dt><dd>${n(t.referrals??0)}</dd></div>
        <div><dt>Converted</dt><dd>${n(t.conversions??0)}</dd></div>
      </dl>
      ${a?`<p class="next" part="next-reward">${n(V(a,t))}</p>`:""}
      ${s.length?`<div><p id="${o}-rewards"><strong>Rewards</strong></p>
        <ul class="rewards" aria-labelledby="${o}-rewards">${s.map(d=>F(d)).join("")}</ul></div>`:""}
      ${r?B(r,e):""}`}bind(t){this.$("[data-copy]").addEventListener("click",async()=>{let e=await v(t.link,this.$("input"));this.announce(e?"Link copied to the clipboard.":"Select the link and copy it.",e?"success":"")})}};function F(i){let t=i.description?`${i.name}: ${i.description}`:i.name,r=i.metric==="conversions"?"conversions":"referrals",e=i.earned?'<strong class="earned">Earned</strong>':`<span class="muted">${n(i.threshold)} ${r}, ${n(i.remaining)} to go</span>`;return`<li class="${i.earned?"is-earned":""}">${n(t)} (${e})</li>`}function V(i,t){let r=i.metric||"referrals",e=i.remaining??Math.max(0,Number(i.threshold||0)-Number(t[r]??0));return`${e} more ${r==="conversions"?e===1?"friend who converts":"friends who convert":e===1?"friend":"friends"} to unlock ${i.name}.`}function B(i,t){let r=Array.isArray(i.entries)?i.entries:[];if(r.length===0)return"";let e=r.map(s=>`<tr><td class="num">${n(s.rank)}</td><td>${n(s.name)}</td>
        <td class="num">${n(s.referrals)}</td><td class="num">${n(s.conversions)}</td></tr>`).join("");return`<table part="leaderboard">
    <caption>Top referrers, by ${t.leaderboard_metric==="conversions"?"conversions":"referrals"}</caption>
    <thead><tr><th scope="col" class="num">Rank</th><th scope="col">Name</th>
      <th scope="col" class="num">Referrals</th><th scope="col" class="num">Conversions</th></tr></thead>
    <tbody>${e}</tbody></table>`}var W=`
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
`,w=class extends m{static get observedAttributes(){return[...super.observedAttributes,"limit"]}get intervalMs(){return Math.max(2,parseFloat(this.getAttribute("interval")||"6"))*1e3}start(){this.state="loading",this.items=[],this.index=0,this.paused=!1,this.hovered=!1;let t=this.uid;this.render(`<section class="card" part="card" aria-label="${n(this.getAttribute("label")||"Recent activity")}">
        <p class="item" part="item" id="${t}-item" aria-live="off" aria-atomic="true"></p>
        <button type="button" class="pause" part="button pause" aria-pressed="false" hidden>Pause</button>
        <p class="status" part="status" role="status" aria-live="polite"></p>
      </section>`,W);let r=this.$(".card");r.addEventListener("mouseenter",()=>this.hold(!0)),r.addEventListener("mouseleave",()=>this.hold(!1)),r.addEventListener("focusin",()=>this.hold(!0)),r.addEventListener("focusout",e=>{r.contains(e.relatedTarget)||this.hold(!1)}),this.$(".pause").addEventListener("click",()=>this.togglePause()),this.load()}stop(){clearInterval(this.rotation),clearInterval(this.refresher),this.rotation=null,this.refresher=null}async load(){let t=Math.min(50,Math.max(1,parseInt(this.getAttribute("limit")||"10",10)||10)),r;try{r=await this.api("GET",`/feed?limit=${t}`)}catch(e){this.state="error",this.fail(e);return}if(this.items=Array.isArray(r.items)?r.items:[],this.index=0,this.items.length===0?(this.state="empty",this.$(".card").hidden=!0):(this.$(".card").hidden=!1,this.$(".pause").hidden=this.items.length<2,this.show(!1),this.state="ready",this.emit("gos-social-proof-loaded",{items:this.items})),!this.rotation&&this.items.length>1&&(this.rotation=setInterval(()=>this.next(),this.intervalMs)),!this.refresher){let e=Math.max(10,parseFloat(this.getAttribute("refresh")||"60"))*1e3;this.refresher=setInterval(()=>this.load(),e)}}next(){this.paused||this.hovered||this.items.length<2||(this.index=(this.index+1)%this.items.length,this.show(!0))}show(t){let r=this.items[this.index];if(!r)return;let e=this.$(".item");e.innerHTML=`<span class="text">${n(r.text)}</span>`,e.dataset.index=String(this.index),e.classList.remove("fade"),t&&(e.offsetWidth,e.classList.add("fade"))}hold(t){this.hovered=t}togglePause(){this.paused=!this.paused,this.$(".pause").setAttribute("aria-pressed",String(this.paused)),this.$(".item").setAttribute("aria-live",this.paused?"polite":"off"),this.announce(this.paused?"Updates paused.":"Updates resumed.")}};var f=`
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
`,x=class extends m{start(){this.state="loading",this.render("",f),this.load()}async load(){let{userId:t,deviceId:r}=this.config,e=new URLSearchParams;t&&e.set("user_id",t),r&&e.set("device_id",r);let o,s;try{[o,s]=await Promise.all([this.campaign(),this.api("GET",`/survey?${e}`)])}catch(c){this.draw("",""),this.state="error",this.fail(c);return}let a=o.config||{};if(this.questions=Array.isArray(s.questions)?s.questions:[],!s.eligible||this.questions.length===0){this.render("",f),this.state="ineligible";return}let d=this.uid;this.draw(this.getAttribute("heading")||a.title||o.name,`${a.description?`<p class="muted" part="description">${n(a.description)}</p>`:""}
      <form part="form" novalidate aria-labelledby="${d}-title">
        <div class="questions">${this.questions.map(c=>this.question(c)).join("")}</div>
        ${y}
        <div><button type="submit" part="button">${n(this.getAttribute("button-label")||"Send answers")}</button></div>
      </form>`),this.$("form").addEventListener("submit",c=>{c.preventDefault(),this.submit()}),this.state="ready"}draw(t,r){let e=this.uid;this.render(`<section class="card" part="card" aria-labelledby="${e}-title">
        <h2 id="${e}-title" part="heading">${n(t||"Survey")}</h2>
        <div class="body">${r}</div>
        <p class="status" part="status" role="status" aria-live="polite"></p>
      </section>`,f)}question(t){let r=`${this.uid}-${t.id}`,e=t.required?' <span class="req">(required)</span>':"",o=`<p id="${r}-error" class="error" part="error"></p>`,s=n(t.id);if(t.type==="text"){let c=Number(t.max_length)||1e3;return`<div class="field q" data-q="${s}">
        <label for="${r}">${n(t.prompt)}${e}</label>
        <textarea id="${r}" name="${s}" maxlength="${c}" ${t.required?'required aria-required="true"':""}
          aria-describedby="${r}-error"></textarea>${o}</div>`}let a;if(t.type==="rating"){let c=Number(t.min??1),u=Number(t.max??5),l=[];for(let h=c;h<=u;h++)l.push(`<label><input type="radio" name="${s}" value="${h}"><span>${h}</span></label>`);a=`<div class="scale">${l.join("")}</div>`}else{let c=t.type==="multiple"?"checkbox":"radio";a=`<div class="options">${(Array.isArray(t.options)?t.options:[]).map(l=>`<label class="opt"><input type="${c}" name="${s}" value="${n(l)}"> ${n(l)}</label>`).join("")}</div>`}let d=t.type==="multiple"?' <span class="req">(choose any)</span>':"";return`<fieldset class="q" data-q="${s}" aria-describedby="${r}-error">
      <legend>${n(t.prompt)}${e}${d}</legend>${a}${o}</fieldset>`}answers(){let t=this.$("form"),r={};for(let e of this.questions){let o=[...t.querySelectorAll(`[name="${U(e.id)}"]`)],s;if(e.type==="text")s=o[0].value.trim()||void 0;else if(e.type==="multiple"){let a=o.filter(d=>d.checked).map(d=>d.value);s=a.length?a:void 0}else{let a=o.find(d=>d.checked);s=a?e.type==="rating"?Number(a.value):a.value:void 0}s!==void 0&&(r[e.id]=s)}return r}questionError(t,r){let e=this.$(`.q[data-q="${U(t)}"]`);if(!e)return null;e.querySelector(".error").textContent=r;let o=e.matches("fieldset")?e:e.querySelector("textarea");return r?o.setAttribute("aria-invalid","true"):o.removeAttribute("aria-invalid"),e.querySelector("input, textarea")}async submit(){let t=this.answers(),r=null;for(let c of this.questions){let u=c.required&&t[c.id]===void 0,l=this.questionError(c.id,u?"Please answer this question.":"");u&&!r&&(r=l)}if(r){r.focus(),this.announce("Some required questions are not answered yet.","error");return}let e=this.$("form"),o=e.querySelector("button[type=submit]");o.disabled=!0,this.setAttribute("aria-busy","true");let{userId:s,deviceId:a}=this.config,d={answers:t,website:e.elements.namedItem("website").value,page_url:location.href};s?d.user_id=s:d.device_id=a;try{await this.api("POST","/responses",d),this.thank("Thank you for your answers."),this.emit("gos-survey-answered",{answers:t})}catch(c){if(c instanceof p&&c.status===409){this.thank("You have already answered this survey. Thank you.");return}let u=!1;if(c instanceof p&&c.status===400){for(let l of c.details||[])if(l&&typeof l.question=="string"){let h=this.questionError(l.question,l.message||c.message);h&&!u&&h.focus(),u=u||!!h}}u?this.announce("Some answers need another look.","error"):this.fail(c)}finally{o.disabled=!1,this.removeAttribute("aria-busy")}}thank(t){let r=this.$(".body");r.innerHTML=`<p class="thanks" part="thanks" tabindex="-1">${n(this.getAttribute("thanks")||t)}</p>`,r.querySelector(".thanks").focus(),this.state="done"}};function U(i){return globalThis.CSS&&f.escape?f.escape(i):String(i).replace(/["\\]/g,"\\$&")}var X=`
.joined { display: grid; gap: var(--_gap); }
.position { font-size: 1.1em; }
.position strong { font-size: 1.6em; color: var(--_accent); margin-right: 0.25rem; }
.position:focus { outline: none; }
.position:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
`,_=class extends m{static get observedAttributes(){return[...super.observedAttributes,"referral-code"]}get storageKey(){return`gos_waitlist:${this.config.campaign}`}start(){this.state="loading",this.draw({}),this.load()}async load(){let t=null;try{t=await this.campaign()}catch(e){this.state="error",this.$("form").hidden=!0,this.fail(e);return}this.settings=t.config||{},this.draw(this.settings,t.name);let r=C(this.storageKey,null);if(r&&typeof r.signup_id=="string")try{let e=await this.api("GET",`/waitlist/${encodeURIComponent(r.signup_id)}`);this.joined(e,{focus:!1});return}catch(e){e instanceof p&&e.status===404&&q(this.storageKey)}this.state="ready"}draw(t,r=""){let e=this.uid,o=this.getAttribute("heading")||t.title||r||"Join the waitlist",s=this.getAttribute("label")||"Email address",a=this.getAttribute("button-label")||t.button_text||"Join the waitlist";this.render(`<section class="card" part="card" aria-labelledby="${e}-title">
        <h2 id="${e}-title" part="heading">${n(o)}</h2>
        ${t.description?`<p class="muted" part="description">${n(t.description)}</p>`:""}
        <form part="form" novalidate>
          <div class="field">
            <label for="${e}-email">${n(s)}</label>
            <div class="row">
              <input id="${e}-email" part="input" type="email" name="email" autocomplete="email"
                required aria-required="true" aria-describedby="${e}-email-error">
              <button type="submit" part="button">${n(a)}</button>
            </div>
            <p id="${e}-email-error" class="error" part="error"></p>
          </div>
          ${y}
        </form>
        <div class="joined" part="result" hidden></div>
        <p class="status" part="status" role="status" aria-live="polite"></p>
      </section>`,X),this.$("form").addEventListener("submit",d=>{d.preventDefault(),this.submit()})}fieldError(t){let r=this.$("input[name=email]"),e=this.$(".error");e.textContent=t,r.setAttribute("aria-invalid",t?"true":"false"),t&&r.focus()}referralCode(){let t=this.getAttribute("referral-code");if(t)return t;try{let r=this.getAttribute("ref-param")||"ref";return new URL(location.href).searchParams.get(r)||void 0}catch{return}}async submit(){let t=this.$("form"),r=t.elements.namedItem("email"),e=r.value.trim();if(!e||!r.checkValidity()){this.fieldError(e?"Enter an email address like name@example.com.":"Enter your email address.");return}this.fieldError("");let o=t.querySelector("button[type=submit]");o.disabled=!0,this.setAttribute("aria-busy","true"),this.announce("Joining the waitlist…");try{let s={},a={email:e,referral_code:this.referralCode(),website:t.elements.namedItem("website").value,page_url:location.href},d=await this.api("POST","/waitlist",a,s);L(this.storageKey,{signup_id:d.signup_id}),this.joined(d,{focus:!0,again:s.status===200}),this.emit("gos-waitlist-joined",d)}catch(s){s instanceof p&&s.status===400&&(s.details||[]).some(d=>d&&d.field==="email")?(this.fieldError(s.message),this.announce("")):this.fail(s)}finally{o.disabled=!1,this.removeAttribute("aria-busy")}}joined(t,{focus:r,again:e=!1}){let o=this.uid,s=this.settings||{};this.$("form").hidden=!0;let a=this.$(".joined"),d=s.places_per_referral,c=d?`Share your link: you move up ${d} places for each friend who joins.`:"Share your link with friends.";a.innerHTML=`
      <p class="position" tabindex="-1"><strong>#${n(t.position)}</strong>
        You are number ${n(t.position)} of ${n(t.total)} on the waitlist.</p>
      ${t.invited?'<p class="invited" part="invited">You are invited: check your email.</p>':""}
      ${t.referrals?`<p class="muted">${n(t.referrals)} ${t.referrals===1?"friend has":"friends have"} joined with your link.</p>`:""}
      ${s.success_message?`<p>${n(s.success_message)}</p>`:""}
      ${t.referral_link?`
      <div class="field">
        <label for="${o}-link">${n(c)}</label>
        <div class="row">
          <input id="${o}-link" part="input" type="url" readonly value="${n(t.referral_link)}">
          <button type="button" class="secondary" part="button copy" data-copy>Copy link</button>
        </div>
      </div>`:""}`,a.hidden=!1;let u=a.querySelector("[data-copy]");u&&u.addEventListener("click",async()=>{let l=a.querySelector("input"),h=await v(t.referral_link,l);this.announce(h?"Link copied to the clipboard.":"Select the link and copy it.",h?"success":"")}),this.state="joined",this.signup=t,r&&(a.querySelector(".position").focus(),this.announce(e?"You are already on the waitlist.":"You joined the waitlist.","success"))}};var Q={"gos-waitlist":_,"gos-referral":$,"gos-survey":x,"gos-social-proof":w};if(typeof customElements<"u")for(let[i,t]of Object.entries(Q))customElements.get(i)||customElements.define(i,t);})();
