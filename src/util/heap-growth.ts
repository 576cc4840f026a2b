import { setFlagsFromString } from "node:v8";

/**
 * How far V8 lets the heap grow past what a full collection left, as a percentage (300: to 4x).
 *
 * A server sits idle between pushes, and V8 judges from that idle time that the program allocates
 * slowly: it then lets the heap grow by only 10% past its live size. A slug write keeps 30-50 MB
 * of blocks in flight outside the heap, which V8 counts against that limit, so the write that
 * follows an idle spell ran a full collection every 40 ms: about 25 per slug, a fifth of its time
 * (`--trace-gc`). A fixed factor of 4 on a heap of a few tens of MB costs little memory and keeps
 * it to a handful. V8 reads this setting at every collection, so setting it at start-up takes.
 */
export const HEAP_GROWING_PERCENT = 300;

export function setHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
