import type http from "node:http";
import { describe, expect, it } from "vitest";
import { changesState, crossSiteRefusal, servedOverHttps } from "../../../src/auth/same-origin.js";
import { wantsBasicChallenge } from "../../../src/auth/request-principal.js";

const HOST = "127.0.0.1:5000";

describe("cross-site requests made with the session cookie", () => {
  it("come from our pages when the browser says same-origin, or (without Fetch Metadata) the Origin names this host", () => {
    expect(crossSiteRefusal({ host: HOST, "sec-fetch-site": "same-origin" })).toBeUndefined();
    expect(crossSiteRefusal({ host: HOST, origin: `http://${HOST}` })).toBeUndefined();
    // Behind a TLS proxy the page's origin is https.
    expect(crossSiteRefusal({ host: "paas.example", origin: "https://paas.example" })).toBeUndefined();
  });

  it("are refused from another site, a sibling, the address bar, or with no word of where they came from", () => {
    const refused: http.IncomingHttpHeaders[] = [
      { host: HOST, "sec-fetch-site": "cross-site", origin: `http://${HOST}` },
      { host: HOST, "sec-fetch-site": "same-site" },
      { host: HOST, "sec-fetch-site": "none" },
      { host: HOST, origin: "http://evil.example" },
      { host: HOST, origin: "http://127.0.0.1:5001" },
      { host: HOST, origin: "null" },
      { host: HOST, origin: `file://${HOST}` },
      { host: HOST },
    ];
    for (const headers of refused) expect(crossSiteRefusal(headers), JSON.stringify(headers)).toMatch(/./);
  });

  it("are only the methods that change something", () => {
    for (const m of ["POST", "PATCH", "PUT", "DELETE"]) expect(changesState(m)).toBe(true);
    for (const m of ["GET", "HEAD", "OPTIONS"]) expect(changesState(m)).toBe(false);
  });

  it("knows https from TLS or the proxy's X-Forwarded-Proto", () => {
    const req = (headers: http.IncomingHttpHeaders, encrypted = false) => ({ headers, socket: encrypted ? { encrypted: true } : {} }) as unknown as http.IncomingMessage;
    expect(servedOverHttps(req({}))).toBe(false);
    expect(servedOverHttps(req({ "x-forwarded-proto": "https" }))).toBe(true);
    expect(servedOverHttps(req({ "x-forwarded-proto": "https, http" }))).toBe(true);
    expect(servedOverHttps(req({ "x-forwarded-proto": "http" }))).toBe(false);
    expect(servedOverHttps(req({}, true))).toBe(true);
  });

  it("a 401 asks for Basic credentials, but not of the dashboard (the browser would pop up its own password dialog)", () => {
    expect(wantsBasicChallenge({}, "none")).toBe(true);
    expect(wantsBasicChallenge({}, "authorization")).toBe(true);
    expect(wantsBasicChallenge({}, "session")).toBe(false);
    expect(wantsBasicChallenge({ "sec-fetch-dest": "empty" }, "none")).toBe(false);
    expect(wantsBasicChallenge({ "sec-fetch-dest": "document" }, "none")).toBe(true);
  });
});
