import type http from "node:http";

export interface RouteContext {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly handler: RouteHandler;
}

/** A tiny method + path router: `/api/apps/:app/builds`. Returns undefined for no match. */
export function createRouter() {
  const routes: Route[] = [];
  return {
    add(method: string, path: string, handler: RouteHandler): void {
      const names: string[] = [];
      const source = path.replace(/:([a-zA-Z]+)/g, (_, name: string) => {
        names.push(name);
        return "([^/]+)";
      });
      routes.push({ method, pattern: new RegExp(`^${source}$`), names, handler });
    },
    /** The handler for a request, or "method" when the path exists with another method. */
    match(method: string, pathname: string): { handler: RouteHandler; params: Record<string, string> } | "method" | undefined {
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
        return { handler: route.handler, params };
      }
      return pathMatched ? "method" : undefined;
    },
  };
}
