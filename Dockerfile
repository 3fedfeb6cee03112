# The composectl controller image: the static composectl binary alone, FROM scratch.
#
# Nothing is pulled, so it builds on a machine without a registry: the binary is built on the
# host first. scripts/build-controller-image.sh does both steps (cached by input hash):
#
#   RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=target/static \
#     cargo build --release --locked --target x86_64-unknown-linux-gnu --bin composectl
#   docker build -t composectl:latest \
#     --build-arg BINARY=target/static/x86_64-unknown-linux-gnu/release/composectl .
#
# Run it with the engine's socket and the desired directory mounted:
#
#   docker run -d --name composectl --restart unless-stopped \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /srv/desired:/desired:ro -p 127.0.0.1:9631:9631 composectl:latest
FROM scratch
# The binary, relative to the build context.
ARG BINARY=composectl
# The hash of the inputs, set by scripts/build-controller-image.sh (its cache key).
ARG INPUTS=unknown
COPY ${BINARY} /composectl
ENV COMPOSECTL_DESIRED=/desired \
    COMPOSECTL_LISTEN=0.0.0.0:9631
LABEL org.opencontainers.image.title="composectl" \
      org.opencontainers.image.description="Keeps a Docker host equal to a directory of compose files" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.composectl.inputs="${INPUTS}"
EXPOSE 9631
# `composectl healthcheck` GETs /healthz on COMPOSECTL_LISTEN: no shell or curl needed.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/composectl", "healthcheck"]
ENTRYPOINT ["/composectl"]
CMD ["run"]
