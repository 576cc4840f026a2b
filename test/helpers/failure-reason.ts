const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/**
 * The failure reason a buildpack printed as the last line of its error box, `Failure reason: <code>`
 * (buildpacks/python/README.md, "Failure reasons"), or undefined when its stderr doesn't end with one.
 */
export function failureReason(stderr: string | undefined): string | undefined {
  const last = (stderr ?? "").replace(ANSI, "").trimEnd().split("\n").at(-1) ?? "";
  return /^ ! {5}Failure reason: ([a-z0-9_:-]+)$/.exec(last)?.[1];
}
