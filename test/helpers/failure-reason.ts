const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/**
 * The failure reason a buildpack printed as the last line of its error box, `Failure reason: <code>`
 * (buildpacks/python/README.md, "Failure reasons"), or undefined when the text doesn't end with one.
 * The text is the program's stderr, or a step's output as the pusher sees it (stdout and stderr
 * together, whole lines), which the box ends too.
 */
export function failureReason(output: string | undefined): string | undefined {
  const last = (output ?? "").replace(ANSI, "").trimEnd().split("\n").at(-1) ?? "";
  return /^ ! {5}Failure reason: ([a-z0-9_:-]+)$/.exec(last)?.[1];
}
