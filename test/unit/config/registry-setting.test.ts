import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse-config.js";
import { parseRegistrySetting } from "../../../src/config/registry-setting.js";

describe("SLUGFORGE_REGISTRY", () => {
  it("reads host, port and prefix; loopback is plain HTTP, anything else HTTPS unless it says http://", () => {
    expect(parseRegistrySetting("127.0.0.1:5590/slugforge")).toEqual({ host: "127.0.0.1:5590", prefix: "slugforge", scheme: "http" });
    expect(parseRegistrySetting("localhost:5000")).toEqual({ host: "localhost:5000", prefix: "", scheme: "http" });
    expect(parseRegistrySetting("registry.example.com/team/apps/")).toEqual({ host: "registry.example.com", prefix: "team/apps", scheme: "https" });
    expect(parseRegistrySetting("http://10.0.0.5:5000/x")).toEqual({ host: "10.0.0.5:5000", prefix: "x", scheme: "http" });
    expect(parseRegistrySetting("https://127.0.0.1:5590/x")).toMatchObject({ scheme: "https" });
  });

  it("refuses what cannot start an image name", () => {
    expect(parseRegistrySetting("127.0.0.1:5590/SlugForge")).toMatchObject({ error: expect.stringContaining('"SlugForge" is not a valid path component') });
    expect(parseRegistrySetting("-bad-/x")).toMatchObject({ error: expect.stringContaining("is not a registry host") });
    expect(parseRegistrySetting("ftp://host/x")).toHaveProperty("error");
    expect(parseRegistrySetting("")).toHaveProperty("error");
  });

  it("images are on by default, loaded into the engine; the settings are read and checked with the others", () => {
    expect(parseConfig({}).config).toMatchObject({ images: true, registry: undefined, registryTimeoutMs: 20_000, imageWaitMs: 120_000, imageRetryMs: 30_000 });
    const { config } = parseConfig({ SLUGFORGE_REGISTRY: "127.0.0.1:5590/slugforge", SLUGFORGE_REGISTRY_TIMEOUT: "5s", SLUGFORGE_IMAGE_WAIT: "1m", SLUGFORGE_IMAGE_RETRY: "2s" });
    expect(config).toMatchObject({ registry: { host: "127.0.0.1:5590", prefix: "slugforge" }, registryTimeoutMs: 5000, imageWaitMs: 60_000, imageRetryMs: 2000 });
    expect(parseConfig({ SLUGFORGE_IMAGES: "off" }).config?.images).toBe(false);
    expect(parseConfig({ SLUGFORGE_IMAGES: "maybe", SLUGFORGE_REGISTRY: "Bad Host/x" }).errors).toEqual([
      "SLUGFORGE_IMAGES=maybe: expected on or off",
      expect.stringMatching(/^SLUGFORGE_REGISTRY=Bad Host\/x: /),
    ]);
  });
});
