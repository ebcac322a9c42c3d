# syntax=example.org/custom/frontend:2
FROM debian:bookworm-slim
VOLUME ["/data", "/logs"]
HEALTHCHECK CMD ["/bin/true"]
HEALTHCHECK NONE
ONBUILD RUN make
RUN --mount=type=secret,id=token,required cat /run/secrets/token
RUN --mount=type=ssh git clone git@example.org:duck.git
