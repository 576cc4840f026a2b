# slugforge's server in a container of its own, driving the host's Docker engine through the
# engine's socket mounted into it. Build it with `npm run image` (README, "Run as a container"):
# that makes the build context (dist/ and the production node_modules/ made on the host) and, where
# the official Node image cannot be pulled, a base from Debian packages. `docker build .` from a
# checkout builds inside instead (npm ci, tsc), for machines that reach the npm registry.
#
# Run it with the socket, a data volume and the socket's group:
#   docker run -d --name slugforge --init --stop-timeout 90 -p 5000:5000 \
#     -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v slugforge-data:/data slugforge/server:latest

# The official Node image by default; `npm run image` passes slugforge/node-base:<recipe> where it
# cannot be pulled. Any Debian-based image with Node.js 20 does.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build
# Marks the untagged image this stage leaves, so that `npm run image` can remove it afterwards.
LABEL org.slugforge.stage=build
WORKDIR /src
COPY . .
RUN set -eu; \
    if [ -f dist/cli/main.js ] && [ -d node_modules ]; then \
      echo "dist/ and the production node_modules/ come from the build context (made on the host by npm run image)"; \
    else \
      npm ci --no-audit --no-fund; \
      npx tsc -p tsconfig.build.json; \
      npm prune --omit=dev --no-audit --no-fund; \
    fi

FROM ${BASE_IMAGE}
ARG SLUGFORGE_VERSION=dev
# git serves pushes and fetches (receive-pack, upload-pack), perl runs the pre-receive hook, tar
# moves files in and out of build containers: the Debian-made base has them, the official Node
# image lacks git. The server runs as `slugforge`, uid 1000 (the Node image's `node` user gives
# way): the build user in build containers is uid 1000 too, so the cache folders and tars the
# server and the builds hand each other belong to the same user.
RUN set -eu; \
    if ! command -v git >/dev/null || ! command -v perl >/dev/null || ! command -v tar >/dev/null; then \
      apt-get update; \
      apt-get install -y --no-install-recommends git ca-certificates perl-base tar; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    user="$(awk -F: '$3 == 1000 { print $1 }' /etc/passwd)"; \
    if [ -n "$user" ]; then sed -i "/^$user:/d" /etc/passwd; [ ! -f /etc/shadow ] || sed -i "/^$user:/d" /etc/shadow; fi; \
    group="$(awk -F: '$3 == 1000 { print $1 }' /etc/group)"; \
    if [ -n "$group" ]; then sed -i "/^$group:/d" /etc/group; [ ! -f /etc/gshadow ] || sed -i "/^$group:/d" /etc/gshadow; fi; \
    echo "slugforge:x:1000:1000:slugforge server:/data:/usr/sbin/nologin" >> /etc/passwd; \
    echo "slugforge:x:1000:" >> /etc/group; \
    mkdir -p /data; \
    chown 1000:1000 /data; \
    chmod 700 /data

WORKDIR /opt/slugforge
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/hooks ./hooks
COPY --from=build /src/buildpacks ./buildpacks
COPY --from=build /src/dashboard ./dashboard
COPY --from=build /src/launcher ./launcher
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The native module must load with this base's Node (a host-built one needs the same major version).
RUN node -e "new (require('better-sqlite3'))(':memory:').close()" && git --version && perl -e 1

ENV NODE_ENV=production \
    PORT=5000 \
    SLUGFORGE_DATA=/data \
    SLUGFORGE_SKIP_HOST_SETUP=1
VOLUME /data
EXPOSE 5000
USER 1000:1000
# serve stops taking pushes at SIGTERM and lets running builds finish for SLUGFORGE_STOP_GRACE
# (60 s), then cancels them: give `docker stop` more than that (docker run --stop-timeout 90).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 5000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
LABEL org.opencontainers.image.title="slugforge" \
      org.opencontainers.image.description="A self-hosted build server in the Heroku tradition" \
      org.opencontainers.image.version="${SLUGFORGE_VERSION}" \
      org.slugforge.role="server"
ENTRYPOINT ["node", "/opt/slugforge/bin/slugforge.js"]
CMD ["serve"]
