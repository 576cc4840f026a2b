import { expect, it } from "vitest";
import { renderMetrics } from "../../../src/api/metrics.js";

const STATS = { buildsByStatus: {}, buildDurationsS: [], slugBytes: 0 };

it("adds a gauge per build engine, up and builds running, only when there are build engines", () => {
  expect(renderMetrics(STATS, 0)).not.toContain("slugforge_engine");
  const text = renderMetrics(STATS, 0, 0, [
    { url: "unix:///var/run/docker.sock", primary: true, state: "up", running: 2, since: "", lastError: undefined },
    { url: "tcp://b:2376", primary: false, state: "loading", running: 0, since: "", lastError: undefined },
    { url: 'unix:///odd"name', primary: false, state: "down", running: 0, since: "", lastError: "gone" },
  ]);
  expect(text).toContain('slugforge_engine_up{engine="unix:///var/run/docker.sock"} 1');
  expect(text).toContain('slugforge_engine_up{engine="tcp://b:2376"} 0');
  expect(text).toContain('slugforge_engine_up{engine="unix:///odd\\"name"} 0');
  expect(text).toContain('slugforge_engine_builds_running{engine="unix:///var/run/docker.sock"} 2');
  expect(text).toContain("# TYPE slugforge_engine_up gauge");
});
