import { SlugforgeError } from "../errors.js";

const MAX_URL_LENGTH = 2048;

/**
 * The URL a webhook may POST to: http or https, with a host, no credentials (fetch refuses them,
 * and they would show in every listing). Checked when a webhook is added and again before each
 * send, so nothing but an http(s) URL is ever fetched, whatever the database holds.
 */
export function parseWebhookUrl(raw: unknown): URL {
  if (typeof raw !== "string" || raw.trim() === "") throw invalid("the webhook needs a URL");
  if (raw.length > MAX_URL_LENGTH) throw invalid(`the URL is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`"${raw}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid(`"${raw}" has the scheme ${url.protocol.replace(/:$/, "")}: webhooks are POSTed to http:// and https:// URLs only`);
  }
  if (url.hostname === "") throw invalid(`"${raw}" has no host`);
  if (url.username !== "" || url.password !== "") throw invalid("the URL carries a user or password; slugforge does not send them (the signature authenticates each delivery)");
  return url;
}

/** `https://host:port` of a webhook URL: what logs and the activity name, since a path or query may hold a receiver's own secret. */
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(not a URL)";
  }
}

function invalid(message: string): SlugforgeError {
  return new SlugforgeError("WEBHOOK_URL_INVALID", message);
}
