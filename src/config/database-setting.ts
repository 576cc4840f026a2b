/**
 * Where metadata is kept (SLUGFORGE_DATABASE_URL): a PostgreSQL URL as libpq and node-postgres
 * read it, `postgres://user:password@host:5432/database` (or `postgresql://`; a unix socket's
 * folder as `?host=/run/postgresql` or percent-encoded in the host). Unset, metadata stays in
 * SQLite in the data folder.
 */
const URL_FORM = /^(postgres|postgresql):\/\/(?:([^/?#]*)@)?([^@/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i;
const HOST = /^(?:[A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.]+\])?(?::(\d*))?$/;
const EXPECTED = "expected postgres://user:password@host:5432/database (or postgresql://…)";

export function parseDatabaseUrl(raw: string): { url: string } | { error: string } {
  const url = raw.trim();
  const m = URL_FORM.exec(url);
  // Not echoed: what does not parse may still hold a password.
  if (!m) return { error: /^[a-z][a-z0-9+.-]*:/i.test(url) && !/^postgres(ql)?:\/\//i.test(url) ? `not a PostgreSQL URL (its scheme is ${url.split(":")[0]}); ${EXPECTED}` : `not a URL; ${EXPECTED}` };
  const [, , userinfo, hosts = "", database, query = ""] = m;
  const shown = redactDatabaseUrl(url);
  const parts = [userinfo, hosts, database, ...query.split("&")].filter((p): p is string => p !== undefined);
  if (parts.some((p) => !decodes(p))) return { error: `${shown}: a part of it is not percent-encoded properly (encode characters such as @ / : # % in the password)` };
  for (const host of hosts.split(",")) {
    const port = HOST.exec(host);
    if (!port) return { error: `${shown}: "${host}" is not a host[:port]; ${EXPECTED}` };
    if (port[1] !== undefined && !(Number(port[1]) >= 1 && Number(port[1]) <= 65535)) return { error: `${shown}: the port must be a number from 1 to 65535` };
  }
  const socketFolder = new URLSearchParams(query).get("host");
  if (hosts.replace(/:\d*$/, "") === "" && !socketFolder) return { error: `${shown}: names no host; ${EXPECTED}, or ?host=/socket/folder for a unix socket` };
  return { url };
}

/** The URL with its password hidden, for messages and logs. */
export function redactDatabaseUrl(url: string): string {
  return url.trim().replace(/^([a-z]+:\/\/[^:@/?#]*):[^@/?#]*@/i, "$1:****@").replace(/([?&]password=)[^&#]*/i, "$1****");
}

function decodes(part: string): boolean {
  try {
    decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
}
