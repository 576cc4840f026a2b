import { PassThrough, type Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

/** A tar entry header as tar-stream reads and writes it. */
export type TarHeader = Partial<tar.Header> & { name: string };

/** Returns the header to write (possibly changed), or undefined to drop the entry and its body. */
export type TarMapper = (header: TarHeader) => TarHeader | undefined;

// pax keys that would override what a mapper sets on the header (name, owner).
const OVERRIDING_PAX_KEYS = ["path", "linkpath", "uid", "gid", "uname", "gname"];

/**
 * Rewrites a tar stream entry by entry without buffering it: each entry's header goes through
 * `map`, its body is piped straight into the output. Errors on either side end both.
 */
export function mapTar(input: Readable, map: TarMapper): Readable {
  const extract = tar.extract();
  const pack = tar.pack();
  const out = new PassThrough();
  extract.on("entry", (header, body, next) => {
    let mapped: TarHeader | undefined;
    try {
      mapped = map({ ...header } as TarHeader);
    } catch (err) {
      extract.destroy(err as Error);
      return;
    }
    if (!mapped) {
      body.on("end", () => next());
      body.resume();
      return;
    }
    try {
      const sink = pack.entry(withoutOverridingPax(mapped), (err) => (err ? extract.destroy(err) : next()));
      body.pipe(sink as unknown as Writable);
    } catch (err) {
      // The reader went away (pack destroyed): stop reading the input too.
      extract.destroy(err as Error);
    }
  });
  extract.on("finish", () => pack.finalize());
  pipeline(input, extract as unknown as Writable).catch((err: Error) => pack.destroy(err));
  pipeline(pack as unknown as Readable, out).catch((err: Error) => out.destroy(err));
  return out;
}

function withoutOverridingPax(header: TarHeader): TarHeader {
  const pax = header.pax as Record<string, string> | null | undefined;
  if (!pax) return header;
  const rest = { ...pax };
  for (const key of OVERRIDING_PAX_KEYS) delete rest[key];
  return { ...header, pax: Object.keys(rest).length > 0 ? rest : undefined };
}
