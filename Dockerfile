# The programs' images, from one build stage: the webapp (the default,
# last target), and the Elasticsearch API test double (target esdouble,
# for offline stacks only: scripts/offline-images). Each is one static Go
# binary in an otherwise empty image; building both in one `go build`
# compiles the standard library once, not twice.
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
# programs import; the tests' heavy modules live in tests/go.mod.
RUN ["go", "mod", "download"]
COPY webapp/ webapp/
COPY esdouble/ esdouble/
RUN ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/", "./webapp", "./esdouble/cmd/esdouble"]
# The data folder of the real Elasticsearch image, owned by its user in the
# double's image, so the esdata volume is writable by it as by Elasticsearch.
WORKDIR /out/root/usr/share/elasticsearch/data

# The Elasticsearch API test double (package esdouble): NOT Elasticsearch.
FROM scratch AS esdouble
# The Elasticsearch version it answers as: compose.yaml's pin (scripts/pins),
# passed by scripts/offline-images.
ARG ES_VERSION
ENV ESDOUBLE_VERSION=${ES_VERSION}
LABEL org.opencontainers.image.title="tvs-esdouble" \
      org.opencontainers.image.description="tvs test double of the Elasticsearch REST API, not Elasticsearch"
COPY --from=build /out/esdouble /esdouble
# Answers compose.yaml's healthcheck `curl -fsS URL`; see esdouble/cmd/esdouble.
COPY --from=build /out/esdouble /usr/bin/curl
COPY --from=build --chown=1000:0 /out/root/ /
USER 1000:0
EXPOSE 9200
ENTRYPOINT ["/esdouble"]

# The webapp.
FROM scratch AS webapp
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
