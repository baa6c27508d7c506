# syntax=docker/dockerfile:1.7
# gohealth-operator image: a static (musl) binary on distroless/static, running as non-root 65532.
#   docker build -t gohealth-operator:dev .
# The chart's Deployment expects exactly this layout: ENTRYPOINT /gohealth, args `run ...`, uid/gid 65532,
# nothing written to the root filesystem. CI has no Docker: e2e/images/build.sh builds the same layout with
# buildah from scratch (a static glibc binary there, as that machine's Rust has no musl target) and the e2e
# tests run it on a real local cluster (e2e/cluster).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
# musl-gcc compiles ring's C/asm parts for the static target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
# Build for the builder's own architecture (buildx runs one builder per platform).
RUN case "$(uname -m)" in \
      x86_64) echo x86_64-unknown-linux-musl ;; \
      aarch64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;; \
    esac > /rust-target \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY operator ./operator
# embedded at compile time: the admission knowledge base
COPY config/admission-plugins.yaml ./config/admission-plugins.yaml
COPY config/benign-sites.yaml ./config/benign-sites.yaml
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gohealth --target "$(cat /rust-target)" \
 && cp "target/$(cat /rust-target)/release/gohealth" /gohealth \
 && /gohealth --version

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="gohealth-operator" \
      org.opencontainers.image.description="Audits Go programs in Kubernetes (pprof) and kube-apiserver admission plugins" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /gohealth /gohealth
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/gohealth"]
CMD ["run", "--metrics-addr", "0.0.0.0:8080"]
