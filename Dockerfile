# Fletch server image.
#
#   docker build -t fletch .
#   docker run -d --name fletch -p 8181:8181 -v fletch-data:/var/lib/fletch fletch
#   docker logs fletch | grep 'admin token'          # printed once, on the first start
#   docker exec fletch fletch token create --database mydb --permission write
#
# The server listens on 0.0.0.0:8181 inside the container, so auth stays on: the first
# start on an empty volume prints an admin token (only its SHA-256 is kept in
# /var/lib/fletch/tokens.json). See docs/operations.md#auth-and-tls.
# scripts/docker_build_check.sh runs the build stage's steps and the runtime checks
# outside Docker (tests/e2e/test_docker_build.py).

# go.mod says `go 1.26`; the build stage's Go must be at least that. Build and runtime
# are both Debian bookworm, so the binary asks for no newer glibc than the runtime has.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The one build step, shared with scripts/docker_build_check.sh.
RUN --mount=type=cache,target=/root/.cache/go-build sh scripts/build_release.sh /out

# DuckDB needs glibc, libstdc++ and libgcc_s: all three are in debian:bookworm-slim.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 fletch \
 && useradd --system --uid 10001 --gid fletch --create-home --home-dir /home/fletch \
      --shell /usr/sbin/nologin fletch \
 && mkdir -p /var/lib/fletch \
 && chown fletch:fletch /var/lib/fletch
COPY --from=build /out/fletch /usr/local/bin/fletch
USER fletch
# The token subcommands read FLETCH_DATA_DIR, so `docker exec fletch fletch token ...`
# needs no --data-dir.
ENV FLETCH_DATA_DIR=/var/lib/fletch
VOLUME /var/lib/fletch
EXPOSE 8181
# A restart may replay a large WAL before /health answers: a minute's grace.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["fletch", "health"]
# ENTRYPOINT is the binary and CMD the serve command, so `docker run fletch token ...`
# and `docker compose run --rm fletch token ...` reach the other subcommands; to add
# serve flags, repeat the CMD with them.
ENTRYPOINT ["fletch"]
CMD ["serve", "--addr", "0.0.0.0:8181", "--data-dir", "/var/lib/fletch"]
