import type http from "node:http";
import { API_ACCESS, type Need } from "../auth/access.js";
import type { Principal } from "../auth/principal.js";

export interface RouteContext {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly principal: Principal;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

/** For a route without `:app` (a build or slug by id): the app of what it names, checked before the handler runs. */
export type AppOf = (ctx: RouteContext) => Promise<string>;

export interface RouteMatch {
  readonly handler: RouteHandler;
  readonly params: Record<string, string>;
  /** What the route needs (API_ACCESS) and of which app. */
  readonly need: Need;
  readonly appOf?: AppOf;
}

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly handler: RouteHandler;
  readonly need: Need;
  readonly appOf?: AppOf;
}

/**
 * A tiny method + path router: `/api/apps/:app/builds`. Each route takes what it needs from the
 * access table; a route the table does not name, or an app-scoped one with no way to tell its
 * app, is refused when it is added, so none can slip through unchecked.
 */
export function createRouter() {
  const routes: Route[] = [];
  return {
    add(method: string, path: string, handler: RouteHandler, appOf?: AppOf): void {
      const need = API_ACCESS[`${method} ${path}`];
      if (need === undefined) throw new Error(`${method} ${path} has no entry in API_ACCESS (src/auth/access.ts)`);
      const names: string[] = [];
      const source = path.replace(/:([a-zA-Z]+)/g, (_, name: string) => {
        names.push(name);
        return "([^/]+)";
      });
      if ((need === "read" || need === "deploy") && !names.includes("app") && !appOf) throw new Error(`${method} ${path} needs ${need} on an app but cannot tell which`);
      routes.push({ method, pattern: new RegExp(`^${source}$`), names, handler, need, appOf });
    },
    /** The route for a request, or "method" when the path exists with another method. */
    match(method: string, pathname: string): RouteMatch | "method" | undefined {
      let pathMatched = false;
      for (const route of routes) {
        const m = route.pattern.exec(pathname);
        if (!m) continue;
        pathMatched = true;
        if (route.method !== method) continue;
        let params: Record<string, string>;
        try {
          params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
        } catch {
          return undefined;
        }
        return { handler: route.handler, params, need: route.need, appOf: route.appOf };
      }
      return pathMatched ? "method" : undefined;
    },
  };
}
