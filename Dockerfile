# syntax=docker/dockerfile:1
# The Sluice image: one static `sluice` binary on distroless static, run as
# the non-root user 65532. The controller runs `sluice controller`, run Jobs
# `sluice run`.
#
#   docker build -t sluice:dev .
#
# The e2e suite builds the same layout without a registry
# (e2e/scripts/oci-image.py): the binary at /usr/local/bin/sluice, user
# 65532, CA certificates, /tmp.

FROM docker.io/library/rust:1.95-bookworm AS build
ARG TARGETARCH
WORKDIR /src
COPY . .
# glibc, statically linked (+crt-static), so the binary needs no libc in the
# final image; the target triple must be explicit for RUSTFLAGS to spare
# build scripts and proc macros.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    case "${TARGETARCH:-amd64}" in \
      amd64) triple=x86_64-unknown-linux-gnu ;; \
      arm64) triple=aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported architecture ${TARGETARCH}" >&2; exit 1 ;; \
    esac && \
    RUSTFLAGS='-C target-feature=+crt-static' \
      cargo build --locked --release --target "$triple" --bin sluice && \
    cp "target/$triple/release/sluice" /sluice && \
    /sluice --version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /sluice /usr/local/bin/sluice
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sluice"]
