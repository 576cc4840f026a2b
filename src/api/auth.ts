import { checkBasicAuth, sameSecret } from "../git/basic-auth.js";

/** The API takes the token as a Bearer token, or as the Basic password (as git does). */
export function checkAuthorization(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return sameSecret(bearer[1]!, token);
  return checkBasicAuth(header, token);
}
