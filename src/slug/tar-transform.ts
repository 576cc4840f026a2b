import { PassThrough, finished, type Readable, type Writable } from "node:stream";
import tar from "tar-stream";

/** A tar entry header as tar-stream reads and writes it. */
export type TarHeader = Partial<tar.Header> & { name: string };

/** Returns the header to write (possibly changed), or undefined to drop the entry and its body. */
export type TarMapper = (header: TarHeader) => TarHeader | undefined;

// pax keys that would override what a mapper sets on the header (name, owner).
const OVERRIDING_PAX_KEYS = ["path", "linkpath", "uid", "gid", "uname", "gname"];

/**
 * Rewrites a tar stream entry by entry without buffering it: each entry's header goes through
 * `map`, its body is piped straight into the output. A failure anywhere — the input, an entry's
 * body or sink, the mapper, or a reader that goes away before the end — destroys every stream
 * of the transform with that error, and the output fails with it: the caller's build fails, never
 * the process (each stream has an error listener), and a truncated input never ends cleanly.
 */
export function mapTar(input: Readable, map: TarMapper): Readable {
  const extract = tar.extract();
  const pack = tar.pack();
  const out = new PassThrough();
  let failed = false;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    const error = err instanceof Error ? err : new Error(String(err));
    for (const s of [input, extract, pack] as { destroy(e?: Error): void }[]) s.destroy(error);
    out.destroy(error);
  };
  extract.on("error", fail);
  pack.on("error", fail);
  extract.on("entry", (header, body, next) => {
    body.on("error", fail);
    let mapped: TarHeader | undefined;
    try {
      mapped = map({ ...header } as TarHeader);
    } catch (err) {
      return fail(err);
    }
    if (!mapped) {
      body.on("end", () => next());
      body.resume();
      return;
    }
    let sink: Writable;
    try {
      sink = pack.entry(withoutOverridingPax(mapped), (err) => (err ? fail(err) : next())) as unknown as Writable;
    } catch (err) {
      // The reader went away (pack destroyed): stop reading the input too.
      return fail(err);
    }
    sink.on("error", fail);
    body.pipe(sink);
  });
  extract.on("finish", () => pack.finalize());

  // The input must end cleanly: a stream destroyed part-way (a killed tar, a cut exec) is a failure.
  finished(input, { writable: false }, (err) => {
    if (err) fail(err);
  });
  input.pipe(extract as unknown as Writable);
  (pack as unknown as Readable).pipe(out);
  // The reader went away (its pipeline failed, the push was cancelled): stop everything behind it.
  finished(out, (err) => {
    if (err) fail(err);
  });
  return out;
}

function withoutOverridingPax(header: TarHeader): TarHeader {
  const pax = header.pax as Record<string, string> | null | undefined;
  if (!pax) return header;
  const rest = { ...pax };
  for (const key of OVERRIDING_PAX_KEYS) delete rest[key];
  return { ...header, pax: Object.keys(rest).length > 0 ? rest : undefined };
}
