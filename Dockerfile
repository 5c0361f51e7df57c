# The image the Helm chart runs (server, injector, CSI provider, injected agents): the coffer
# binary on the PATH, and /bin/sh for agent-inject-command annotations.
#   docker build -t REGISTRY/coffer:dev . && docker push REGISTRY/coffer:dev
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
COPY internal internal
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/coffer ./cmd/coffer

FROM alpine:3.22
RUN apk add --no-cache ca-certificates
COPY --from=build /out/coffer /usr/local/bin/coffer
# The chart's default IDs (server, injector and agents: 100:1000); no account is needed.
USER 100:1000
ENTRYPOINT ["coffer"]
