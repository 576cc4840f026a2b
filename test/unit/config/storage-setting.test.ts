import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse-config.js";
import { parseStorageSetting } from "../../../src/config/storage-setting.js";

const KEYS = { AWS_ACCESS_KEY_ID: "test:tester", AWS_SECRET_ACCESS_KEY: "testing" };

describe("SLUGFORGE_STORAGE_URL", () => {
  it("is unset by default: slugs stay in the data folder", () => {
    expect(parseConfig({}).config?.storage).toBeUndefined();
    expect(parseConfig({ SLUGFORGE_STORAGE_URL: "" }).config?.storage).toBeUndefined();
  });

  it("reads the bucket, the endpoint and the region, and the credentials from AWS_*", () => {
    const { config } = parseConfig({ SLUGFORGE_STORAGE_URL: "s3://slugs?endpoint=http://127.0.0.1:8080/&region=eu-west-1", ...KEYS, AWS_SESSION_TOKEN: "tok" });
    expect(config?.storage).toEqual({ bucket: "slugs", endpoint: "http://127.0.0.1:8080", region: "eu-west-1", accessKeyId: "test:tester", secretAccessKey: "testing", sessionToken: "tok" });
    expect(parseStorageSetting("s3://my.slugs?endpoint=https%3A%2F%2Fstore.example", KEYS)).toMatchObject({ bucket: "my.slugs", endpoint: "https://store.example", region: "us-east-1" });
  });

  it("says what is wrong with a URL, every problem at once", () => {
    const errors = (raw: string, env: Record<string, string> = KEYS): string[] => parseConfig({ SLUGFORGE_STORAGE_URL: raw, ...env }).errors ?? [];
    expect(errors("slugs")).toEqual([expect.stringMatching(/expected a URL such as s3:\/\/slugs\?endpoint=/)]);
    expect(errors("http://slugs?endpoint=http://h:1")).toEqual([expect.stringMatching(/the scheme must be s3:\/\//)]);
    expect(errors("s3://Bad_Bucket?endpoint=http://h:1")).toEqual([expect.stringMatching(/"Bad_Bucket" is not a bucket name: 3 to 63 lower-case letters/)]);
    expect(errors("s3://slugs")).toEqual([expect.stringMatching(/endpoint is missing: add \?endpoint=http:\/\/HOST:PORT/)]);
    expect(errors("s3://slugs?endpoint=ftp://h:1&region=us east")).toEqual([
      expect.stringMatching(/endpoint=ftp:\/\/h:1: expected http:\/\/HOST:PORT/),
      expect.stringMatching(/region=us east: expected a region name/),
    ]);
    expect(errors("s3://slugs/prefix?endpoint=http://h:1&regoin=x")).toEqual([expect.stringMatching(/a key prefix is not supported/), expect.stringMatching(/unknown parameter "regoin"/)]);
    expect(errors("s3://slugs?endpoint=http://h:1", {})).toEqual([
      "SLUGFORGE_STORAGE_URL is set but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not: set the object store's access key and secret",
    ]);
    expect(errors("s3://slugs?endpoint=http://h:1", { AWS_ACCESS_KEY_ID: "a" })).toEqual([expect.stringMatching(/but AWS_SECRET_ACCESS_KEY is not/)]);
  });
});
