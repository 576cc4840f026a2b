import { isZeroSha, type HookRefLine } from "./hook-protocol.js";

export type PushDecision =
  | { readonly kind: "noop" }
  | {
      readonly kind: "refuse";
      readonly code: "BRANCH_NOT_DEPLOYABLE";
      /** Why, one line per refused ref. */
      readonly lines: readonly string[];
      /** What to do; the gate prints it last, after the code. */
      readonly summary: string;
    }
  | { readonly kind: "build"; readonly update: HookRefLine };

export interface RepoBranches {
  readonly hasMain: boolean;
  readonly hasMaster: boolean;
}

/**
 * The deploy branch is main; master when the repo already uses master and has no main. An empty
 * repo accepts either for its first push (main wins when both come at once).
 */
export function deployBranches(repo: RepoBranches, refs: readonly HookRefLine[]): string[] {
  if (repo.hasMain) return ["refs/heads/main"];
  if (repo.hasMaster) return ["refs/heads/master"];
  const pushed = new Set(refs.map((r) => r.ref));
  if (pushed.has("refs/heads/main") || !pushed.has("refs/heads/master")) return ["refs/heads/main"];
  return ["refs/heads/master"];
}

/**
 * One push builds at most one ref, the deploy branch. Any other ref, a tag or a deletion refuses
 * the whole push (pre-receive is all or nothing), with a line that says why and what to do.
 */
export function decidePush(repo: RepoBranches, refs: readonly HookRefLine[]): PushDecision {
  const changed = refs.filter((r) => r.old !== r.new);
  if (changed.length === 0) return { kind: "noop" };
  const [deploy] = deployBranches(repo, changed);
  const short = (ref: string): string => ref.replace(/^refs\/(heads|tags)\//, "");
  const deployName = short(deploy!);
  const lines: string[] = [];
  let build: HookRefLine | undefined;
  for (const r of changed) {
    if (isZeroSha(r.new)) {
      lines.push(`Deleting ${r.ref} is not allowed: the deploy branch and its history stay on the server.`);
    } else if (r.ref === deploy) {
      build = r;
    } else if (r.ref.startsWith("refs/tags/")) {
      lines.push(`Tag ${short(r.ref)} was not pushed: only the ${deployName} branch deploys; push tags elsewhere.`);
    } else {
      lines.push(
        `Branch ${short(r.ref)} does not deploy: only ${deployName} builds. To deploy it, run: git push <remote> ${short(r.ref)}:${deployName}`,
      );
    }
  }
  if (lines.length > 0) {
    return { kind: "refuse", code: "BRANCH_NOT_DEPLOYABLE", lines, summary: `nothing was updated; push the ${deployName} branch, e.g. git push <remote> HEAD:${deployName}` };
  }
  return build ? { kind: "build", update: build } : { kind: "noop" };
}
