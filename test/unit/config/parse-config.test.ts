import { describe, expect, it } from "vitest";
import { parseBytes, parseConfig, parseDuration } from "../../../src/config/parse-config.js";

describe("parseConfig", () => {
  it("gives the defaults README → Configuration lists, for an empty environment", () => {
    const { config, errors } = parseConfig({}, "/srv");
    expect(errors).toBeUndefined();
    expect(config).toMatchObject({
      port: 5000,
      dataDir: "/srv/.slugforge",
      token: undefined,
      stack: "debian-13",
      buildTimeoutMs: 15 * 60_000,
      buildConcurrency: 2,
      buildNetwork: "bridge",
      buildMounts: [],
      maxSlugBytes: 500_000_000,
      laidSlug: true,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reads every setting", () => {
    const { config } = parseConfig({
      PORT: "0",
      SLUGFORGE_DATA: "/data",
      SLUGFORGE_TOKEN: "s3cret-token",
      SLUGFORGE_BUILD_TIMEOUT: "90s",
      SLUGFORGE_BUILD_CONCURRENCY: "3",
      SLUGFORGE_BUILD_NETWORK: "none",
      SLUGFORGE_BUILD_MOUNTS: "/srv/wheels:/wheels:ro, /etc/ssl/ca.pem:/etc/ca.pem",
      SLUGFORGE_MAX_PUSH_BYTES: "100MiB",
      SLUGFORGE_MAX_SLUG_BYTES: "1GB",
      SLUGFORGE_BUILD_CONFIG_VARS: '{"PIP_INDEX_URL":"https://pypi.internal/simple"}',
      SLUGFORGE_LAID_SLUG: "off",
    });
    expect(config?.laidSlug).toBe(false);
    expect(config?.buildConfigVars).toEqual({ PIP_INDEX_URL: "https://pypi.internal/simple" });
    expect(config).toMatchObject({
      port: 0,
      dataDir: "/data",
      token: "s3cret-token",
      buildTimeoutMs: 90_000,
      buildConcurrency: 3,
      buildNetwork: "none",
      maxPushBytes: 100 * 1024 * 1024,
      maxSlugBytes: 1e9,
    });
    expect(config?.buildMounts).toEqual([
      { host: "/srv/wheels", container: "/wheels", readOnly: true },
      { host: "/etc/ssl/ca.pem", container: "/etc/ca.pem", readOnly: true },
    ]);
  });

  it("reports every bad setting at once", () => {
    const { config, errors } = parseConfig({
      PORT: "http",
      SLUGFORGE_BUILD_CONCURRENCY: "0",
      SLUGFORGE_BUILD_NETWORK: "wifi",
      SLUGFORGE_BUILD_MOUNTS: "relative:/x",
      SLUGFORGE_BUILD_TIMEOUT: "soon",
      SLUGFORGE_TOKEN: "short",
      SLUGFORGE_BUILD_CONFIG_VARS: '{"1BAD": "x"}',
      SLUGFORGE_LAID_SLUG: "maybe",
    });
    expect(config).toBeUndefined();
    expect(errors).toHaveLength(8);
    expect(errors?.join("\n")).toMatch(/SLUGFORGE_LAID_SLUG=maybe: expected on or off/);
    expect(errors?.join("\n")).toMatch(/PORT=http/);
    expect(errors?.join("\n")).toMatch(/SLUGFORGE_BUILD_NETWORK=wifi: expected bridge, none or host/);
  });

  it("reads the build engines: Docker URLs in order, none by default", () => {
    expect(parseConfig({}, "/srv").config).toMatchObject({ buildEngines: [], engineCheckMs: 3000 });
    const { config } = parseConfig({ SLUGFORGE_BUILD_ENGINES: "unix:///var/run/docker.sock, unix:///run/engine2.sock,tcp://build3:2376", SLUGFORGE_ENGINE_CHECK: "5s" });
    expect(config).toMatchObject({ buildEngines: ["unix:///var/run/docker.sock", "unix:///run/engine2.sock", "tcp://build3:2376"], engineCheckMs: 5000 });
  });

  it("refuses build engines that are not Docker URLs, or named twice, saying what to write", () => {
    const { errors } = parseConfig({ SLUGFORGE_BUILD_ENGINES: "unix:///a.sock,/run/b.sock,ftp://c,unix:///a.sock" });
    expect(errors).toEqual([
      'SLUGFORGE_BUILD_ENGINES: "/run/b.sock": expected a Docker URL such as unix:///var/run/docker.sock or tcp://host:2376',
      'SLUGFORGE_BUILD_ENGINES: "ftp://c": expected a Docker URL such as unix:///var/run/docker.sock or tcp://host:2376',
      'SLUGFORGE_BUILD_ENGINES: "unix:///a.sock" is named twice; name each engine once',
    ]);
  });

  it("parses durations and sizes", () => {
    expect(parseDuration("900")).toBe(900_000);
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("-1")).toBeUndefined();
    expect(parseBytes("500MB")).toBe(500_000_000);
    expect(parseBytes("2GiB")).toBe(2 * 1024 ** 3);
    expect(parseBytes("lots")).toBeUndefined();
  });
});
