// The public campaign endpoints, as the components call them: `/v1/campaigns/{key}/...` with
// the project's public key in `X-API-Key`.

/** The origin the components script came from: the default host. */
const script = typeof document !== "undefined" ? document.currentScript : null;
export const SCRIPT_ORIGIN =
  script && script.src ? new URL(script.src, globalThis.location ? location.href : undefined).origin : "";

export class ApiError extends Error {
  /**
   * @param {number} status 0 when the server could not be reached
   * @param {string} code the error code of the API's envelope
   * @param {string} message
   * @param {any[]} [details]
   */
  constructor(status, code, message, details = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * @param {{host: string, writeKey: string}} config
 * @param {"GET" | "POST"} method @param {string} path from `/v1/...`
 * @param {any} [body]
 * @param {{status?: number}} [meta] receives the answer's status
 */
export async function request(config, method, path, body, meta = {}) {
  const headers = { "X-API-Key": config.writeKey };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`${config.host}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "network_error", "The server could not be reached.");
  }
  meta.status = response.status;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `The request failed (${response.status}).`,
      error.details || [],
    );
  }
  return data;
}

/**
 * What to tell a person about an error: plain words for the common cases, else the server's
 * message.
 * @param {unknown} error
 */
export function describe(error) {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  if (error.status === 0) return "We could not reach the server. Check your connection and try again.";
  if (error.status === 429) return "Too many attempts. Please wait a moment and try again.";
  if (error.status >= 500) return "Something went wrong on our side. Please try again in a moment.";
  if (error.code === "campaign_not_found") return "This campaign is not available.";
  return error.message;
}
