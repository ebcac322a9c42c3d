# check=skip=RunWithNetwork
# None of these may warn (its `RUN`s download on purpose: the reproducibility lint is off).
ARG IMAGE=debian:bookworm
FROM debian:bookworm-slim AS base
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=cache,target=/var/lib/apt/lists \
    apt-get update && apt-get -qqy -o APT::Install-Recommends=false install git

FROM base AS app
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN set -o pipefail && curl -fsSL https://example.org/x | tar -xz
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://example.org/y | tar -xz
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.org/z.tar.gz /opt/
RUN echo "a | b" '|' && echo done

FROM scratch
COPY --from=app /app /app
FROM base
FROM debian@sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d
FROM ${IMAGE}
CMD ["python3", "main.py"]
