/**
 * Sizes in powers of 1024, as Heroku prints them: the build output's `Done: 14.2M` (the slug
 * compiler's short form) and its CLI's `14.2 MB` (JEDEC units: a KB is 1024 bytes). One rule for
 * both, so a push's `Done:` line and `slugforge slugs` show the same number.
 */
function sizeParts(bytes: number): { value: string; unit: "" | "K" | "M" | "G" } {
  const K = 1024;
  const n = Math.max(0, Math.round(bytes));
  if (n < K) return { value: String(n), unit: "" };
  // Rounded before the unit is chosen, so 1048575 bytes is 1.0M rather than 1024K.
  if (Math.round(n / K) < K) return { value: String(Math.round(n / K)), unit: "K" };
  if (Number((n / K ** 2).toFixed(1)) < K) return { value: (n / K ** 2).toFixed(1), unit: "M" };
  return { value: (n / K ** 3).toFixed(1), unit: "G" };
}

/** `12.3M`, `740K`, `2.1G`, `512B`: the build output's form. */
export function formatSize(bytes: number): string {
  const { value, unit } = sizeParts(bytes);
  return `${value}${unit || "B"}`;
}

/** `12.3 MB`, `740 KB`, `2.1 GB`, `512 B`: the CLI's form. */
export function formatBytes(bytes: number): string {
  const { value, unit } = sizeParts(bytes);
  return `${value} ${unit}B`;
}
