// The JSON API, called with the session cookie (same origin: the browser sends it by itself).

export class ApiError extends Error {
  constructor(status, id, message) {
    super(message);
    this.status = status;
    this.id = id;
  }
}

/** Called when the API says the session is over, so the page can show the sign-in form. */
let onSignedOut = () => undefined;
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

async function failure(res) {
  let body;
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  return new ApiError(res.status, body.id ?? `HTTP_${res.status}`, body.message ?? res.statusText);
}

export async function request(method, path, { body, signal } = {}) {
  const res = await fetch(path, {
    method,
    signal,
    credentials: "same-origin",
    headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && path.startsWith("/api/")) onSignedOut();
  if (!res.ok) throw await failure(res);
  return res.json();
}

export const api = {
  get: (path, options) => request("GET", `/api${path}`, options),
  post: (path, body, options) => request("POST", `/api${path}`, { ...options, body }),
};

export const session = {
  current: () => request("GET", "/session"),
  signIn: (token) => request("POST", "/session", { body: { token } }),
  signOut: () => request("DELETE", "/session"),
};

/**
 * A build's output as it arrives: GET /api/builds/:id/output streams until the build ends. Calls
 * `write` with each piece of text; resolves when the stream ends (or `signal` aborts it).
 */
export async function streamOutput(buildId, write, signal) {
  const res = await fetch(`/api/builds/${encodeURIComponent(buildId)}/output`, { credentials: "same-origin", signal });
  if (res.status === 401) onSignedOut();
  if (!res.ok) throw await failure(res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder("utf-8");
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      // stream: true keeps a UTF-8 character cut between chunks for the next one.
      write(decoder.decode(value, { stream: true }));
    }
    write(decoder.decode());
  } finally {
    reader.releaseLock();
  }
}
