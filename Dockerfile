# clerk-forward-auth: a static Go binary on distroless (CA certificates, no shell, uid 65532).
#   docker build --build-arg VERSION=$(git describe --tags --always) -t clerk-forward-auth .
# Health is checked by the orchestrator (/healthz, /readyz), so there is no HEALTHCHECK.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
# Cross-compile on the build platform for the target one (multi-arch builds need no emulation).
ENV GOOS=${TARGETOS} GOARCH=${TARGETARCH}
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/clerk-forward-auth .

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="clerk-forward-auth" \
      org.opencontainers.image.description="Forward-auth service that verifies Clerk sessions for Traefik, NGINX and Envoy" \
      org.opencontainers.image.source="https://github.com/clerk-forward-auth/clerk-forward-auth" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/clerk-forward-auth /clerk-forward-auth
# nonroot, by number (65532:65532) so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/clerk-forward-auth"]
