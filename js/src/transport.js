// Sending batches: fetch with a timeout, the answer classified for the retry rules, and the
// backoff between attempts.

/**
 * @typedef {object} Answer
 * @property {number} status the HTTP status, or 0 when the request did not get an answer
 * @property {number | null} retryAfterMs what the server's `Retry-After` asked for, if anything
 * @property {any} body the decoded JSON answer, or null
 */

/**
 * POST a JSON body. Never throws: a network error or a timeout is `{status: 0}`.
 * @param {string} url @param {string} body @param {Record<string, string>} headers
 * @param {number} timeoutMs
 * @returns {Promise<Answer>}
 */
export async function postJSON(url, body, headers, timeoutMs) {
  const controller = typeof AbortController === "function" ? new AbortController() : null;
  const timer = controller ? setTimeout(() => controller.abort(), timeoutMs) : null;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body,
      credentials: "omit",
      signal: controller ? controller.signal : undefined,
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return {
      status: response.status,
      retryAfterMs: parseRetryAfter(response.headers.get("Retry-After"), Date.now()),
      body: data,
    };
  } catch {
    return { status: 0, retryAfterMs: null, body: null };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * `Retry-After` as milliseconds from `now`: delta seconds or an HTTP date.
 * @param {string | null} value @param {number} now
 * @returns {number | null}
 */
export function parseRetryAfter(value, now) {
  if (value == null || value === "") return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(parseFloat(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/**
 * Whether a request that got `status` may be sent again: no answer, a timeout (408), a rate
 * limit (429) or a server error (5xx). Any other 4xx would fail the same way again.
 * @param {number} status
 */
export function isRetryable(status) {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

/**
 * How long to wait before attempt `failures + 1`: the server's `Retry-After` when it sent one,
 * else exponential backoff with jitter (between half and all of `base * 2^(failures-1)`,
 * at most `max`).
 * @param {number} failures consecutive failed attempts so far (1 after the first)
 * @param {number | null} retryAfterMs
 * @param {{baseMs: number, maxMs: number, random?: () => number}} options
 */
export function backoffMs(failures, retryAfterMs, { baseMs, maxMs, random = Math.random }) {
  if (retryAfterMs != null) return retryAfterMs;
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
