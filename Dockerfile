# syntax=docker/dockerfile:1
# vial-server in a small runtime image (docker build -t vial-server .).
#
# Stage 1 builds with the same Debian packages as scripts/deps.sh; stage 2
# is debian:bookworm-slim with only the shared libraries vial-server loads,
# the installed data (migrations, templates, static files) and a non-root
# user.  Settings come from the environment (DATABASE_URL, REDIS_URL,
# SECRET_KEY, VIAL_*): see deploy/compose/docker-compose.yml.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libuv1-dev node-llhttp libjansson-dev libinih-dev \
      libsqlite3-dev libpq-dev libsodium-dev libssl-dev libhiredis-dev zlib1g-dev libsystemd-dev \
      npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The chart library of the dashboard (npm, locked) first: a layer that only
# changes with the lock file.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && mkdir -p static/vendor && cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/
COPY . .
# The build type make and the tests use (Release's -O3 turns -Werror's
# maybe-uninitialized on in src/tpl); stripped below.  vial-server links
# libvial statically: the image keeps the binary and its data (migrations,
# templates, static files), not the library.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr/local -DVIAL_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /out/usr/local \
 && rm -rf /out/usr/local/include /out/usr/local/lib \
 && strip /out/usr/local/bin/vial-server

FROM debian:bookworm-slim AS runtime
# vial-server links libuv, jansson, inih, SQLite, libsodium, hiredis and zlib;
# libpq (PostgreSQL) and libsystemd (sd_notify) are loaded when used.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libuv1 libjansson4 libinih1 libsqlite3-0 libsodium23 libhiredis0.14 zlib1g libpq5 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vial \
 && useradd --system --uid 10001 --gid vial --home-dir /var/lib/vial --shell /usr/sbin/nologin vial \
 && mkdir -p /var/lib/vial && chown vial:vial /var/lib/vial
COPY --from=build /out/ /
USER vial:vial
WORKDIR /var/lib/vial
ENV HOST=0.0.0.0 PORT=5000 DATABASE_URL=sqlite:////var/lib/vial/vial.db
EXPOSE 5000
VOLUME ["/var/lib/vial"]
# SIGTERM drains (in-flight requests finish); SIGHUP reloads in place.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vial-server"]
CMD ["run"]
