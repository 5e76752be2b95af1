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
USER 65534:65534
ENV LOG_FORMAT=json
ENTRYPOINT ["airline"]
CMD ["all"]
