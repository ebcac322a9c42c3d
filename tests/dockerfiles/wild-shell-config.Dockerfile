# SHELL for every later shell-form RUN and CMD, across `FROM stage`; VOLUME, HEALTHCHECK,
# STOPSIGNAL and ONBUILD recorded in the config as Docker records them (issue 18, class 4).
FROM busybox:1.36 AS base
RUN printf '#!/bin/sh\necho "$*" >> /shell.log\nexec /bin/sh "$@"\n' > /bin/logsh \
 && chmod 755 /bin/logsh
SHELL ["/bin/logsh", "-c"]
RUN echo in-base
STOPSIGNAL SIGINT
VOLUME /data
EXPOSE 8000-8001/udp 80
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q -O- http://127.0.0.1/ || exit 1

FROM base
RUN echo in-child
ONBUILD RUN echo from-a-child
CMD echo hello
