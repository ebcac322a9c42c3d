ARG BASE_TAG=bookworm
FROM debian:${BASE_TAG} AS base
MAINTAINER Duck <duck@example.org>
LABEL org.opencontainers.image.title="Duck app" version=1.0 "with space"=yes
LABEL legacy value with spaces
ENV APP_HOME=/app PATH=/app/bin:$PATH
ENV LEGACY_KEY some legacy value
EXPOSE 8080 9090/udp 7000-7010/tcp
ARG USER_ID=1000 GROUP_ID=1000 NO_DEFAULT
USER ${USER_ID}:${GROUP_ID}
WORKDIR $APP_HOME/src
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --start-interval=1s --retries=3 \
    CMD curl -f http://localhost:8080/ || exit 1
HEALTHCHECK NONE
SHELL ["/bin/bash", "-c"]
ONBUILD COPY . /app/src
ONBUILD RUN make -C /app/src
entrypoint ["/app/bin/duck"]
cmd ["--serve"]
