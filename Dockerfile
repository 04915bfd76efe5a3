# syntax=docker/dockerfile:1
# Nostr Signer: `docker build -t nostr-signer .` then `docker run -p 8080:8080 nostr-signer` (or docker-compose.yml).

# Build stage: the Swift toolchain with libsecp256k1's and hiredis's headers; a release build with the Swift runtime linked in
# statically, so the runtime stage needs only the C libraries.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsecp256k1-dev libhiredis-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest first: the dependencies are fetched again only when it changes.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
COPY database ./database
RUN swift build -c release --product signer --static-swift-stdlib \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/signer" /out/signer

# Runtime stage: the binary, the C libraries it links (tools/check-runtime-libraries.py checks this list against
# `ldd`: of the debug build in `make test`, of a release build in `make test-packaging-release`), CA certificates for wss:// relays and the KMS, and a user of its own
# (/run/signer-kek is where docker-compose.yml mounts the KEK file its instances share).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsecp256k1-1 libhiredis0.14 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/signer --create-home signer \
    && install -d -o signer -g signer -m 0700 /run/signer-kek
COPY --from=build /out/signer /usr/local/bin/signer
# The binary embeds its migrations and applies them at start (`signer migrate` alone); the SQL is here to read.
COPY --from=build /src/database/migrations /usr/share/signer/migrations
USER signer
WORKDIR /var/lib/signer
ENV SIGNER_DATA_DIR=/var/lib/signer \
    SIGNER_HTTP_HOST=0.0.0.0 \
    SIGNER_HTTP_PORT=8080 \
    SIGNER_LOG_FORMAT=json
VOLUME ["/var/lib/signer"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["signer", "probe", "--url", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["signer"]
CMD ["serve"]
