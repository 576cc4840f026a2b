import { SlugforgeError, isSlugforgeError } from "../errors.js";
import { formatDuration } from "./format-duration.js";

export interface Deadline {
  /** Aborted when the pusher goes away or the wall clock runs out; the reason says which. */
  readonly signal: AbortSignal;
  dispose(): void;
}

/** One signal for a build: the caller's cancel, plus the build's wall-clock limit. */
export function startDeadline(cancel: AbortSignal, timeoutMs: number): Deadline {
  const controller = new AbortController();
  // A cancel that says why (the server is stopping) keeps its words; a pusher who went away gets these.
  const onCancel = (): void =>
    controller.abort(isSlugforgeError(cancel.reason) ? cancel.reason : new SlugforgeError("BUILD_CANCELLED", "The build was cancelled (the push was interrupted)."));
  if (cancel.aborted) onCancel();
  else cancel.addEventListener("abort", onCancel, { once: true });
  const timer = setTimeout(
    () => controller.abort(new SlugforgeError("BUILD_TIMEOUT", `The build took longer than ${formatDuration(timeoutMs)} and was stopped.`)),
    timeoutMs,
  );
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      cancel.removeEventListener("abort", onCancel);
    },
  };
}
