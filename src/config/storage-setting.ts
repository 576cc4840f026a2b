/**
 * `SLUGFORGE_STORAGE_URL=s3://BUCKET?endpoint=http://HOST:PORT&region=REGION`: slugs (and kept
 * build caches) in an S3-compatible object store, with the credentials from the usual
 * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN` where there is one).
 */
export interface StorageSetting {
  readonly bucket: string;
  /** `http(s)://host[:port]`, without a trailing slash. */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string | undefined;
}

/** S3's bucket naming rule (3-63 characters, lower case, digits, dots and hyphens). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z0-9-]{1,64}$/;
const EXAMPLE = "s3://slugs?endpoint=http://127.0.0.1:8080&region=us-east-1";

/** Every problem with the URL and the credentials at once, or the setting. */
export function parseStorageSetting(raw: string, env: Record<string, string | undefined>): StorageSetting | { errors: string[] } {
  const errors: string[] = [];
  const bad = (why: string): void => void errors.push(`SLUGFORGE_STORAGE_URL=${raw}: ${why}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { errors: [`SLUGFORGE_STORAGE_URL=${raw}: expected a URL such as ${EXAMPLE}`] };
  }
  if (url.protocol !== "s3:") bad(`the scheme must be s3:// (as in ${EXAMPLE})`);
  const bucket = url.hostname;
  if (!BUCKET.test(bucket)) bad(`"${bucket}" is not a bucket name: 3 to 63 lower-case letters, digits, dots or hyphens`);
  if (url.pathname !== "" && url.pathname !== "/") bad("a key prefix is not supported: give the bucket alone, s3://BUCKET?endpoint=…");
  if (url.username || url.password) bad("put no credentials in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  for (const key of url.searchParams.keys()) {
    if (key !== "endpoint" && key !== "region") bad(`unknown parameter "${key}": only endpoint and region are read`);
  }
  const endpointRaw = url.searchParams.get("endpoint");
  let endpoint = "";
  if (!endpointRaw) bad(`endpoint is missing: add ?endpoint=http://HOST:PORT (the object store's S3 address), as in ${EXAMPLE}`);
  else {
    try {
      const e = new URL(endpointRaw);
      if ((e.protocol !== "http:" && e.protocol !== "https:") || !e.hostname || (e.pathname !== "/" && e.pathname !== "") || e.search || e.username) throw new Error();
      endpoint = `${e.protocol}//${e.host}`;
    } catch {
      bad(`endpoint=${endpointRaw}: expected http://HOST:PORT or https://HOST[:PORT], with no path`);
    }
  }
  const region = url.searchParams.get("region") || "us-east-1";
  if (!REGION.test(region)) bad(`region=${region}: expected a region name such as us-east-1`);
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? "";
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? "";
  const missing = [!accessKeyId && "AWS_ACCESS_KEY_ID", !secretAccessKey && "AWS_SECRET_ACCESS_KEY"].filter(Boolean);
  if (missing.length > 0) errors.push(`SLUGFORGE_STORAGE_URL is set but ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} not: set the object store's access key and secret`);
  if (errors.length > 0) return { errors };
  return { bucket, endpoint, region, accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}
