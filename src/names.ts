/**
 * The name rules, written once: the API, git, the build and the CLI check names with these, and
 * the messages that explain a refusal quote the rules' words.
 */

/** An app name: the first label of a host name, as Heroku's (2 to 30 characters). */
export const APP_NAME = /^[a-z][a-z0-9-]{1,29}$/;
export const APP_NAME_RULE = "2 to 30 characters: a lower-case letter, then lower-case letters, digits or dashes";

/** A config var name: a shell variable's, so it can be exported, and a file name in ENV_DIR. */
export const CONFIG_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const CONFIG_VAR_NAME_RULE = "letters, digits and _; not starting with a digit";

export function isValidAppName(name: string): boolean {
  return APP_NAME.test(name);
}

export function isConfigVarName(name: string): boolean {
  return CONFIG_VAR_NAME.test(name);
}
