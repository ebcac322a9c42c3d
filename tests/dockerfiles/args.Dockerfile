ARG REGISTRY=localhost:5000
ARG BASE=${REGISTRY}/debian
ARG TAG
ARG GLOBAL_ONLY=global
FROM ${BASE}:${TAG:-bookworm} AS base
ARG GLOBAL_ONLY
ARG STAGE_ARG=stage-default
ENV FROM_ENV=env-value STAGE_ARG=overridden-by-env
ENV OLD=${FROM_ENV} FROM_ENV=changed
WORKDIR /work/${GLOBAL_ONLY}/${STAGE_ARG}/${OLD}
LABEL tag="${TAG:-no tag}" alt="${TAG:+tag set}" escaped="\$TAG" single='$TAG'
RUN echo "$STAGE_ARG is not substituted here"

FROM base AS child
ARG TARGETARCH
WORKDIR /c/${FROM_ENV}/${TARGETARCH}/${REGISTRY}
EXPOSE ${PORT:-8080}
COPY --from=${FROM_STAGE:-base} /work /work
USER ${USER:-1000}

FROM scratch AS unused
COPY --from=0 / /
