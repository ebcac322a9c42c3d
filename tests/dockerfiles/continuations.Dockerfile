FROM debian:bookworm-slim
RUN apt-get update \
# a comment inside the continuation
    && apt-get install -y --no-install-recommends \
        curl \

        ca-certificates \
    # an indented comment
    && rm -rf /var/lib/apt/lists/*
   RUN    echo indented instruction   
RUN echo "a \
b" && echo c\
d
LABEL description="spans \
two lines" \
      version=1.0
RUN echo trailing-continuation-at-eof \
