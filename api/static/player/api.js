// The public HTTP API as the page uses it: the bearer token, JSON in and out, and every
// refusal turned into a sentence a player can act on (never raw JSON on the screen).

const TOKEN_KEY = "gaia.token";

export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter; // seconds, from Retry-After
  }

  // Worth trying again by itself: the service is down, restarting or asks us to wait.
  get transient() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

export const auth = {
  get token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  },
};

// Who the token says the caller is (its claims, unverified: only for showing the name).
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const text = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)));
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function retryAfterSeconds(response) {
  const value = response.headers.get("Retry-After");
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

// One request. `body` is sent as JSON unless it is FormData; answers 204 as null.
export async function call(method, path, { body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers } };
  if (auth.token) init.headers.Authorization = `Bearer ${auth.token}`;
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "the service cannot be reached");
  }
  if (response.ok) {
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    // A proxy's HTML page, or nothing: the status says enough.
  }
  throw new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || response.statusText,
    error.details || {},
    retryAfterSeconds(response),
  );
}

export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

// The sentence a player reads for an error.
export function describe(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error.message || error}.`;
  const wait = error.retryAfter ?? error.details.retry_after ?? null;
  switch (error.code) {
    case "network":
      return "The service cannot be reached. Retrying…";
    case "store_unavailable":
    case "starting":
    case "http_502":
    case "http_503":
    case "http_504":
      return "The service is unavailable for a moment. Retrying…";
    case "rate_limited":
      return wait === null
        ? "Too many requests. Wait a little, then try again."
        : `Too many requests. Try again in ${plural(wait, "second")}.`;
    case "invite_invalid":
      return "This invite link has expired, was revoked or has been used up. Ask for a new one.";
    case "blocked":
      return "You have been blocked from this session.";
    case "unauthorized":
      return "Your sign-in has expired. Sign in again.";
    case "session_not_found":
    case "not_found":
      return "This session is not open to you: it does not exist, or you were removed from it.";
    case "forbidden":
      return `Your role does not allow that${error.details.needed ? ` (it needs ${error.details.needed})` : ""}.`;
    case "body_too_large":
      return "That is too large to send.";
    case "turn_too_long":
      return `Your action is too long: at most ${error.details.limit} characters.`;
    case "image_too_large":
    case "upload_too_large":
    case "file_too_large":
      return "That file is too large to upload.";
    case "unsupported_media_type":
    case "media_type_mismatch":
      return "That file type is not supported: upload a PNG, JPEG, WebP or GIF image.";
    case "media_unavailable":
      return "Images cannot be stored on this server.";
    case "position_ahead":
    case "cursor_ahead":
      return "The page is ahead of the server; it will catch up by itself.";
    case "invalid_request":
      return "The form is not filled in correctly.";
    default:
      return error.message ? `${error.message[0].toUpperCase()}${error.message.slice(1)}.` : "Something went wrong.";
  }
}

// Wait for `seconds`, or until `signal` aborts.
export function pause(seconds, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, seconds * 1000);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// `attempt` until it succeeds or fails for good, waiting between transient failures (with
// Retry-After when the server says how long); `onWait(error)` shows why it waits.
export async function retrying(attempt, { onWait = () => {}, signal } = {}) {
  let delay = 0.5;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const again = error instanceof ApiError && (error.transient || error.code === "rate_limited");
      if (!again || signal?.aborted) throw error;
      onWait(error);
      await pause(error.retryAfter ?? delay, signal);
      if (signal?.aborted) throw error;
      delay = Math.min(delay * 2, 5);
    }
  }
}
