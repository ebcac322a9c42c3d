FROM debian:bookworm
COPPY src /dst
RUNN echo hi
FRBNCT x
COPY --form=build /a /b
COPY --from=a --from=b /a /b
COPY onlyone
RUN --mount=type=cache,targt=/x echo
RUN --mount=type=volume,target=/x echo
RUN --network=bridge echo
ADD --link=maybe a /b
FROM debian bookworm
FROM debian AS 1stage
FROM
ONBUILD FROM debian
ONBUILD ONBUILD RUN x
ONBUILD
HEALTHCHECK START curl
HEALTHCHECK NONE --retries=3
SHELL /bin/bash -c
RUN [1, 2]
ENV
ENV KEY
ENV A=1 B
LABEL =empty
ARG =x
WORKDIR
USER
CMD
RUN <<EOF
never terminated
