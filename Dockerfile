# The webapp's image: one static Go binary in an otherwise empty image.
# GO_IMAGE is the builder: the official golang image by default, or the one
# scripts/offline-images makes where no registry answers. Every step is in
# exec form, so the builder needs no shell.
# GO_IMAGE has no default here: compose.yaml holds the pin.
ARG GO_IMAGE

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
COPY go.mod go.sum ./
# The module download is a layer of its own, so that editing a .go file does
# not download the modules again. The root module holds only what the
# programs import; the tests' heavy modules live in tests/integration's own.
RUN ["go", "mod", "download"]
COPY webapp/ webapp/
RUN ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/webapp", "./webapp"]

FROM scratch
# The version the page and /api/whoami show: `git describe`, passed by the
# scripts that build (scripts/test, bench, swarm-images) or by hand:
#   TVS_VERSION=$(git describe --always --dirty) docker compose build
ARG TVS_VERSION=dev
ENV TVS_VERSION=${TVS_VERSION}
LABEL org.opencontainers.image.version=${TVS_VERSION}
COPY --from=build /out/webapp /webapp
USER 65532:65532
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["/webapp", "healthcheck"]
ENTRYPOINT ["/webapp"]
