// The query console: pick a project, run a pipe query with POST /v1/query, show the rows as a
// table and a chart, and a query error with its code, position and a caret.
//
// Signed in, requests carry the session cookie (same origin). In key mode the key lives in
// this module's memory only: it is never written to storage, a cookie or the URL.

import { formatNumber, measures, render } from "./chart.js";

const EXAMPLES = [
  'event_type = "page_view" | last 7d | count by _browser',
  "last 7d | count, uniq(user_id) as users by day",
  'event_type = "page_view" | last 7d | count by day, _device_type',
  'last 7d | funnel "page_view" -> "signup" -> "purchase_completed" within 7d',
  "last 30d | retention \"signup\" every week periods 4",
  'event_type = "page_view" | last 7d | count by _path | top 10 by count',
  "last 7d | sessions | where events >= 2 | count, avg(duration_s) as avg_duration",
  'last 1d | select time, event_type, user_id, _path | limit 20',
];
// The key's own project (sk_ and aat_ keys name one project; no project_id is sent).
const OWN_PROJECT = "@key";

const root = document.getElementById("console");
const mode = root.dataset.mode;
const $ = (id) => document.getElementById(id);
const form = $("query-form");
const projectSelect = $("project");
const queryInput = $("query");
const runButton = $("run");
const statusLine = $("status");
const limitSelect = $("limit");
const measureSelect = $("measure");
const queryEnabled = root.dataset.queryEnabled === "true";

let apiKey = null;
let lastAnswer = null;

function setStatus(text) {
  statusLine.textContent = text;
}

async function api(path, { method = "GET", body = undefined } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  if (apiKey) {
    headers["X-API-Key"] = apiKey;
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",
    });
  } catch {
    return { ok: false, status: 0, body: { error: { code: "network_error", message: "the server did not answer; is it running?", details: [] } } };
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = { error: { code: "http_" + response.status, message: response.statusText || "unexpected answer", details: [] } };
  }
  return { ok: response.ok, status: response.status, body: parsed };
}

async function listAll(path) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 50; page += 1) {
    const separator = path.includes("?") ? "&" : "?";
    const url = `${path}${separator}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const answer = await api(url);
    if (!answer.ok) {
      throw answer;
    }
    items.push(...answer.body.data);
    if (!answer.body.has_more) {
      break;
    }
    cursor = answer.body.next_cursor;
  }
  return items;
}

// ---- projects ------------------------------------------------------------------------------

function option(value, text) {
  const node = document.createElement("option");
  node.value = value;
  node.textContent = text;
  return node;
}

function fillProjects(groups) {
  // groups: [{label, projects: [{id, name}]}]
  projectSelect.replaceChildren();
  const wanted = new URLSearchParams(location.search).get("project");
  let count = 0;
  for (const group of groups) {
    const parent = groups.length > 1 || group.label ? document.createElement("optgroup") : projectSelect;
    if (parent !== projectSelect) {
      parent.label = group.label;
      projectSelect.append(parent);
    }
    for (const project of group.projects) {
      parent.append(option(project.id, project.name));
      count += 1;
    }
  }
  if (count === 0) {
    projectSelect.append(option("", "No projects yet"));
    projectSelect.disabled = true;
    runButton.disabled = true;
    return 0;
  }
  if (wanted && [...projectSelect.options].some((o) => o.value === wanted)) {
    projectSelect.value = wanted;
  }
  projectSelect.disabled = false;
  runButton.disabled = !queryEnabled;
  return count;
}

async function loadSessionProjects() {
  setStatus("Loading projects...");
  try {
    const orgs = await listAll("/v1/orgs");
    const groups = [];
    for (const org of orgs) {
      const projects = await listAll(`/v1/orgs/${encodeURIComponent(org.id)}/projects`);
      groups.push({ label: org.name, projects });
    }
    const count = fillProjects(groups);
    setStatus(
      count === 0
        ? "You own no organisation with a project yet: create one with POST /v1/orgs, then POST /v1/orgs/{org_id}/projects (see the API reference)."
        : "",
    );
  } catch (answer) {
    if (answer.status === 401) {
      location.assign("/login?next=/console");
      return;
    }
    showError(answer.body, "");
    setStatus("");
  }
}

async function useKey(key) {
  hideError();
  if (key.startsWith("pk_")) {
    showError({ error: { code: "public_key", message: "a public key (pk_) can only send events: use a secret key (sk_), a token with the query scope (aat_) or an org admin key (ak_)", details: [] } }, "");
    return;
  }
  apiKey = key;
  $("forget-key").hidden = false;
  if (key.startsWith("ak_")) {
    setStatus("Loading projects...");
    const org = await api("/v1/admin/org");
    if (!org.ok) {
      showError(org.body, "");
      forgetKey();
      setStatus("");
      return;
    }
    try {
      const projects = await listAll("/v1/admin/projects");
      fillProjects([{ label: org.body.name, projects }]);
      setStatus("");
    } catch (answer) {
      showError(answer.body, "");
      setStatus("");
    }
  } else {
    fillProjects([{ label: "", projects: [{ id: OWN_PROJECT, name: "This key's project" }] }]);
    setStatus("");
  }
}

function forgetKey() {
  apiKey = null;
  $("forget-key").hidden = true;
  projectSelect.replaceChildren(option("", "Enter a key first"));
  projectSelect.disabled = true;
  runButton.disabled = true;
}

// ---- errors --------------------------------------------------------------------------------

function hideError() {
  $("error").hidden = true;
}

/** The error envelope shown with its code, message and, for query text, a caret. */
function showError(body, text) {
  const error = (body && body.error) || { code: "error", message: "unexpected answer", details: [] };
  const detail = (error.details || []).find((d) => Number.isInteger(d.line) && Number.isInteger(d.column));
  $("error-code").textContent = error.code;
  $("error-message").textContent = error.message;
  $("error-where").textContent = detail ? `at line ${detail.line}, column ${detail.column}` : "";
  $("error-caret").textContent = detail ? caretBlock(text, detail) : "";
  $("error-caret").hidden = !detail;
  const notes = [];
  if (detail && detail.expected && detail.expected.length) {
    notes.push(`expected: ${detail.expected.join(", ")}`);
  }
  if (detail && detail.hint) {
    notes.push(`hint: ${detail.hint}`);
  }
  $("error-expected").textContent = notes.join(" · ");
  if (!detail && error.code === "invalid_session" && mode === "session") {
    const again = document.createElement("a");
    again.href = "/login?next=/console";
    again.textContent = "Sign in again";
    $("error-expected").append(again);
  }
  $("error").hidden = false;
  if (detail && Number.isInteger(detail.offset)) {
    // Offsets count code points; the text area counts UTF-16 units.
    const chars = Array.from(text);
    const start = chars.slice(0, detail.offset).join("").length;
    const end = chars.slice(0, detail.offset + Math.max(1, detail.length || 1)).join("").length;
    queryInput.focus();
    queryInput.setSelectionRange(start, end);
  }
}

function caretBlock(text, detail) {
  const source = Array.from(text.split("\n")[detail.line - 1] || "");
  const gutter = " ".repeat(String(detail.line).length);
  const width = Math.max(1, Math.min(detail.length || 1, source.length - detail.column + 1));
  return [
    `${gutter} |`,
    `${detail.line} | ${source.join("")}`,
    `${gutter} | ${" ".repeat(detail.column - 1)}${"^".repeat(width)}`,
  ].join("\n");
}

// ---- results -------------------------------------------------------------------------------

function cell(value) {
  const td = document.createElement("td");
  if (value === null || value === undefined) {
    td.textContent = "null";
    td.className = "null";
  } else if (typeof value === "number") {
    td.textContent = Number.isInteger(value) ? String(value) : formatNumber(value);
    td.className = "num";
    td.title = String(value);
  } else if (typeof value === "object") {
    td.textContent = JSON.stringify(value);
  } else {
    td.textContent = String(value);
  }
  return td;
}

function renderTable(answer) {
  const head = document.createElement("tr");
  for (const name of answer.columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    if (answer.rows.length && answer.rows.every((row) => row[name] === null || typeof row[name] === "number")) {
      th.className = "num";
    }
    head.append(th);
  }
  $("table").tHead.replaceChildren(head);
  const body = $("table").tBodies[0];
  body.replaceChildren(
    ...answer.rows.map((row) => {
      const tr = document.createElement("tr");
      tr.append(...answer.columns.map((name) => cell(row[name])));
      return tr;
    }),
  );
}

function renderChart() {
  const answer = lastAnswer;
  const chart = render($("chart"), answer.columns, answer.rows, measureSelect.value);
  $("chart").dataset.kind = chart.kind;
}

function renderAnswer(answer) {
  lastAnswer = answer;
  const parts = [
    `${answer.row_count} row${answer.row_count === 1 ? "" : "s"}`,
    `lake version ${answer.lake_version ?? "none"}`,
    `${formatNumber(answer.elapsed_ms)} ms`,
  ];
  if (answer.range) {
    parts.push(`${answer.range.from} to ${answer.range.to}`);
  }
  if (answer.has_more) {
    parts.push("more rows: raise the row limit or narrow the query");
  }
  $("meta").textContent = parts.join(" · ");
  const options = measures(answer.columns, answer.rows);
  const previous = measureSelect.value;
  measureSelect.replaceChildren(...options.map((name) => option(name, name)));
  if (options.includes(previous)) {
    measureSelect.value = previous;
  }
  measureSelect.disabled = options.length < 2;
  renderChart();
  renderTable(answer);
  $("result").hidden = false;
}

async function runQuery() {
  const text = queryInput.value;
  if (!text.trim() || projectSelect.disabled) {
    return;
  }
  hideError();
  runButton.disabled = true;
  setStatus("Running...");
  const body = { q: text, format: "json", limit: Number(limitSelect.value) };
  if (projectSelect.value && projectSelect.value !== OWN_PROJECT) {
    body.project_id = projectSelect.value;
  }
  const answer = await api("/v1/query", { method: "POST", body });
  runButton.disabled = false;
  if (answer.ok) {
    setStatus("");
    renderAnswer(answer.body);
    const params = new URLSearchParams();
    if (body.project_id) {
      params.set("project", body.project_id);
    }
    params.set("q", text);
    history.replaceState(null, "", `${location.pathname}?${params}`);
  } else {
    setStatus("");
    $("result").hidden = true;
    showError(answer.body, text);
  }
}

// ---- wiring --------------------------------------------------------------------------------

const examples = $("examples");
for (const example of EXAMPLES) {
  examples.append(option(example, example));
}
examples.addEventListener("change", () => {
  if (examples.value) {
    queryInput.value = examples.value;
    examples.value = "";
    queryInput.focus();
  }
});

const initial = new URLSearchParams(location.search).get("q");
queryInput.value = initial || EXAMPLES[0];

form.addEventListener("submit", (event) => {
  event.preventDefault();
  runQuery();
});
queryInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    form.requestSubmit();
  }
});
measureSelect.addEventListener("change", () => {
  if (lastAnswer) {
    renderChart();
  }
});

if (mode === "key") {
  const keyInput = $("key");
  forgetKey();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    keyInput.value = "";
    if (key) {
      useKey(key);
    }
  });
  $("forget-key").addEventListener("click", () => {
    forgetKey();
    $("result").hidden = true;
  });
} else {
  loadSessionProjects();
}
