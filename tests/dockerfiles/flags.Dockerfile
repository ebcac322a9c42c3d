FROM --platform=$BUILDPLATFORM golang:1.22 AS build
WORKDIR /src
COPY --link --chown=1000:1000 --chmod=0644 go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache/go-build,id=gobuild,sharing=locked \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=.,target=/src,rw \
    go mod download
RUN --mount=type=tmpfs,target=/tmp,size=64m --network=none go build -o /out/app .

FROM debian:bookworm-slim
RUN --mount=type=bind,from=build,source=/out,target=/mnt ls /mnt
COPY --from=build --exclude=*.md --exclude=docs/ /out/ /usr/local/bin/
COPY --parents ./src/*/config.toml /etc/app/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.org/duck.tar.gz /opt/
ADD --keep-git-dir=true --link=false https://example.org/duck.git /src/duck
ADD --unpack=true archive.tar.gz /opt/
RUN --network=host echo "host network"
COPY -- --odd-name /dst
