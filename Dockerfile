# Multi-stage build: a static binary on a distroless, non-root base image.
# (Not built on the development machines, which have no Docker engine.)
FROM golang:1.26-bookworm AS build
ENV GOTOOLCHAIN=auto CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/portal ./cmd/portal

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portal /portal
USER nonroot:nonroot
ENV PORTAL_ADDR=:8080 PORTAL_METRICS_ADDR=:9090
EXPOSE 8080 9090
HEALTHCHECK NONE
ENTRYPOINT ["/portal"]
CMD ["serve"]
