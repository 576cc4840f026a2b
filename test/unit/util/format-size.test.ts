import { expect, it } from "vitest";
import { formatBytes, formatSize } from "../../../src/util/format-size.js";

it("counts in 1024s, the build output's short form and the CLI's spaced one giving the same number", () => {
  const cases: [number, string, string][] = [
    [0, "0B", "0 B"],
    [512, "512B", "512 B"],
    [1023, "1023B", "1023 B"],
    [1024, "1K", "1 KB"],
    [740 * 1024, "740K", "740 KB"],
    [1024 ** 2 - 1, "1.0M", "1.0 MB"], // rounds to 1024K: shown as the next unit
    [14 * 1024 ** 2, "14.0M", "14.0 MB"],
    [14.2 * 1024 ** 2, "14.2M", "14.2 MB"],
    [1024 ** 3 - 1, "1.0G", "1.0 GB"],
    [2.5 * 1024 ** 3, "2.5G", "2.5 GB"],
  ];
  for (const [bytes, short, spaced] of cases) expect([bytes, formatSize(bytes), formatBytes(bytes)]).toEqual([bytes, short, spaced]);
});
