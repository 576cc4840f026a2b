import { describe, expect, it } from "vitest";
import { SlugforgeError } from "../../../src/errors.js";
import { parseWebhookUrl, urlOrigin } from "../../../src/webhooks/index.js";

const refusal = (raw: unknown): SlugforgeError => {
  try {
    parseWebhookUrl(raw);
  } catch (err) {
    return err as SlugforgeError;
  }
  throw new Error(`${String(raw)} was accepted`);
};

describe("webhook URLs", () => {
  it("takes http and https URLs, loopback and private addresses included", () => {
    for (const url of ["https://deploy.example.com/hooks/slugforge?x=1", "http://127.0.0.1:8080/hook", "http://10.0.0.5/h", "http://[::1]:9000/"]) {
      expect(parseWebhookUrl(url).href).toBe(new URL(url).href);
    }
  });

  it("refuses every other scheme with WEBHOOK_URL_INVALID naming it", () => {
    for (const [url, scheme] of [["file:///etc/passwd", "file"], ["ftp://example.com/x", "ftp"], ["javascript:alert(1)", "javascript"], ["data:text/plain,hi", "data"], ["gopher://x/", "gopher"]] as const) {
      const err = refusal(url);
      expect(err.code).toBe("WEBHOOK_URL_INVALID");
      expect(err.message).toContain(`has the scheme ${scheme}: webhooks are POSTed to http:// and https:// URLs only`);
      expect(err.status).toBe(400);
    }
  });

  it("refuses what is not a URL, a missing one, credentials in it, and very long ones", () => {
    expect(refusal("deploy.example.com/hook").message).toContain("is not a URL");
    expect(refusal(undefined).message).toContain("needs a URL");
    expect(refusal(42).message).toContain("needs a URL");
    expect(refusal("https://user:pw@example.com/").message).toContain("user or password");
    expect(refusal(`https://example.com/${"a".repeat(2100)}`).message).toContain("longer than 2048");
  });

  it("names a URL by its origin only: a path or query may hold the receiver's own secret", () => {
    expect(urlOrigin("https://hooks.example.com:8443/T000/B000/XXXX?token=abc")).toBe("https://hooks.example.com:8443");
  });
});
