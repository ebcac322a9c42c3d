FROM debian:bookworm-slim
COPY ./ /src/
RUN <<EOF
apt-get update
apt-get install -y --no-install-recommends git
cd /src
git log | head -1
EOF
