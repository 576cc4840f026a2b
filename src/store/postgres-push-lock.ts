import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";

/** How often a push waiting for another node's push to the same app asks again. */
const RETRY_MS = 200;

/**
 * The app's push lock as every node sharing the database sees it: a session advisory lock
 * (`pg_try_advisory_lock` on a hash of the app's name) held on a connection of its own for as long
 * as the push holds it — not one of the store's pool, which a node's pushes would otherwise use up
 * and then wait on. A node that dies loses its connection, and the lock goes with it.
 */
export function postgresPushLock(url: string, log: Logger) {
  return async (app: string, options: { signal?: AbortSignal; onWaiting?: () => void }): Promise<() => void> => {
    const { signal, onWaiting } = options;
    signal?.throwIfAborted();
    const client = new pg.Client({ connectionString: url, application_name: "slugforge push lock" });
    client.on("error", (err) => log.warn({ err, app }, "the connection holding an app's push lock failed"));
    await client.connect().catch((err: unknown) => {
      throw new SlugforgeError("DATABASE_UNAVAILABLE", `the push lock of ${app} could not be taken: the database did not answer (${(err as Error).message})`, { cause: err });
    });
    const key = `slugforge push ${app}`;
    try {
      for (let said = false; ; said = true) {
        const { rows } = await client.query<{ held: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS held", [key]);
        if (rows[0]?.held) break;
        if (!said) onWaiting?.();
        await sleep(RETRY_MS, undefined, { signal });
      }
    } catch (err) {
      void client.end().catch(() => undefined);
      throw signal?.aborted ? signal.reason : err;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Closing the connection frees the lock, whatever state the connection is in.
      client.end().catch((err: unknown) => log.warn({ err, app }, "closing the connection of an app's push lock failed"));
    };
  };
}
