FROM debian:bookworm-slim
CMD ["python3", "-m", "http.server", "8000"]
ENTRYPOINT ["/bin/tini", "--", "\u00e9\t\"q\""]
RUN ["/bin/bash", "-c", "echo exec form"]
CMD [ "spaces" , "around" ]
RUN [not json
CMD ['single', 'quotes']
ENTRYPOINT ["a", "b",]
CMD ["a"] trailing
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp/x
COPY ["a file.txt", "b.txt", "/dst dir/"]
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
CMD []
