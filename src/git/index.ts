/** The git layer: smart-HTTP receiver, pre-receive hook and its bridge, as the composition root uses them. */
export { createGitHandler, type GitHandler, type GitHandlerDeps } from "./git-handler.js";
export { createHookBridge, type HookBridge, type HookBridgeOptions } from "./hook-bridge.js";
export { installHooks } from "./hook-shim.js";
export { AppLocks } from "./app-lock.js";
export { createRepo, repoPath, repoExists, sweepAllQuarantines } from "./repos.js";
