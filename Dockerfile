# Multi-stage build of the one `airline` binary; every service runs from this image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p airline

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/airline /usr/local/bin/airline
# Mount points for the key volumes, owned by the service user so a new named volume is too: the key job
# writes the pair as that user, and the private key stays readable by it alone.
RUN mkdir -p /keys /public-keys && chown 65534:65534 /keys /public-keys
USER 65534:65534
ENV LOG_FORMAT=json
ENTRYPOINT ["airline"]
CMD ["all"]
