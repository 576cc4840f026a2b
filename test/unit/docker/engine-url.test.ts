import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { isSlugforgeError } from "../../../src/errors.js";

const made: string[] = [];
afterAll(async () => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

it("speaks TLS to a tcp:// engine when DOCKER_TLS_VERIFY is set, and says which certificate file it lacks", async () => {
  const certs = await mkdtemp(path.join(os.tmpdir(), "sf-certs-"));
  made.push(certs);
  let thrown: unknown;
  try {
    createDockerRuntime({ dockerHost: "tcp://127.0.0.1:1", env: { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: certs } });
  } catch (err) {
    thrown = err;
  }
  expect(isSlugforgeError(thrown) && thrown.code).toBe("CONFIG_INVALID");
  expect((thrown as Error).message).toContain(`${path.join(certs, "ca.pem")} cannot be read`);
  expect((thrown as Error).message).toContain("DOCKER_CERT_PATH");

  for (const name of ["ca.pem", "cert.pem", "key.pem"]) await writeFile(path.join(certs, name), "not checked until a connection\n");
  expect(() => createDockerRuntime({ dockerHost: "tcp://127.0.0.1:1", env: { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: certs } })).not.toThrow();
});

it("needs no certificates for a tcp:// engine without DOCKER_TLS_VERIFY (or with it 0), and answers DOCKER_UNAVAILABLE where none listens", async () => {
  const runtime = createDockerRuntime({ dockerHost: "tcp://127.0.0.1:1", env: { DOCKER_TLS_VERIFY: "0", DOCKER_CERT_PATH: "/nonexistent" } });
  await expect(runtime.ping()).rejects.toMatchObject({ code: "DOCKER_UNAVAILABLE" });
});
