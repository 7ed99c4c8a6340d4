# syntax=docker/dockerfile:1
#
# relaycast container image.
#   docker build --build-arg VERSION=$(git describe --always) -t relaycast .
#   docker run --rm -p 8080:8080 -p 8189:8189/udp -p 8189:8189/tcp \
#     -v relaycast-data:/data relaycast --public-ip <host's public IP>
# Arguments after the image name are extra `serve` flags.

# ---- 1. web UI: web/ui → web/dist
FROM node:20-bookworm-slim AS web
WORKDIR /src/web/ui
COPY web/ui/package.json web/ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ui/ ./
RUN npm run build

# ---- 2. Go binary with the built UI embedded
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN rm -rf web/dist
COPY --from=web /src/web/dist ./web/dist
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/relaycast ./cmd/relaycast

# ---- 3. runtime: ffmpeg for transcoding, CA certificates for S3/HTTPS
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin relaycast \
 && mkdir -p /data && chown relaycast:relaycast /data && chmod 0700 /data
COPY --from=build /out/relaycast /usr/local/bin/relaycast
USER relaycast:relaycast
# Logs as JSON; ICE over TCP on 8189 as a fallback for UDP-blocked viewers.
# Override any setting with -e RELAYCAST_...=... or extra flags.
ENV RELAYCAST_LOG_FORMAT=json \
    RELAYCAST_ICE_TCP_PORT=8189
EXPOSE 8080/tcp 8189/udp 8189/tcp
VOLUME /data
ENTRYPOINT ["relaycast", "serve", "--data-dir", "/data"]
