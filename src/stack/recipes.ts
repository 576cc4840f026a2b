import { createHash } from "node:crypto";

/** How one image of a stack is made: a Debian suite, packages on top of minbase, a user. */
export interface ImageRecipe {
  readonly role: "build" | "run";
  readonly suite: string;
  readonly packages: readonly string[];
  /** Files the image must not have (checked after install; a recipe mistake fails the build). */
  readonly forbidden: readonly string[];
}

export interface StackRecipe {
  readonly name: string;
  readonly build: ImageRecipe;
  readonly run: ImageRecipe;
}

/** The unprivileged user builds and apps run as, in both images. */
export const STACK_USER = { name: "slug", uid: 1000, gid: 1000, home: "/app" } as const;

// Libraries Python packages commonly link against, and what CPython's own extension modules need.
const RUNTIME_LIBS = [
  "libpq5", "libffi8", "libssl3t64", "libxml2", "libxslt1.1", "libjpeg62-turbo", "zlib1g", "libsqlite3-0",
  "libexpat1", "libbz2-1.0", "liblzma5", "libmpdec4", "libuuid1", "libreadline8t64", "libncursesw6",
  "libgdbm6t64", "libzstd1",
];

const RECIPES: Record<string, StackRecipe> = {
  "debian-13": {
    name: "debian-13",
    build: {
      role: "build",
      suite: "trixie",
      packages: [
        "build-essential", "pkg-config", "python3", "python3-venv", "python3-dev", "git", "curl",
        "ca-certificates", "tzdata", "bash", "tar", "gzip", "xz-utils", "unzip", "procps",
        "libpq-dev", "libffi-dev", "libssl-dev", "libxml2-dev", "libxslt1-dev", "libjpeg-dev", "zlib1g-dev",
        "libsqlite3-dev", ...RUNTIME_LIBS,
      ],
      forbidden: [],
    },
    run: {
      role: "run",
      suite: "trixie",
      packages: ["ca-certificates", "tzdata", "bash", "tar", "gzip", "procps", ...RUNTIME_LIBS],
      forbidden: ["/usr/bin/gcc", "/usr/bin/cc", "/usr/bin/python3"],
    },
  },
};

export function stackNames(): string[] {
  return Object.keys(RECIPES);
}

export function getStackRecipe(name: string): StackRecipe | undefined {
  return RECIPES[name];
}

export function imageRef(stack: string, role: "build" | "run"): string {
  return `slugforge/stack:${stack}-${role}`;
}

// Bump when the way images are made changes (not only the package lists).
const RECIPE_FORMAT = 3;

/** A hash of everything that decides an image's contents; an image labelled with it is up to date. */
export function recipeHash(recipe: ImageRecipe): string {
  const material = JSON.stringify({ format: RECIPE_FORMAT, user: STACK_USER, ...recipe, packages: [...recipe.packages].sort() });
  return createHash("sha256").update(material).digest("hex").slice(0, 16);
}

export const LABELS = {
  recipe: "org.slugforge.recipe",
  stack: "org.slugforge.stack",
  role: "org.slugforge.role",
} as const;
