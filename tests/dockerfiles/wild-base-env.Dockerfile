# A service image over a base whose config sets PATH and its own variables (issue 18, class 1):
# the base's ENV is in scope for ENV, ARG defaults, WORKDIR, COPY, USER and RUN.
FROM wild/base:1
ARG DATA=$APPDIR/data
ENV PATH=/usr/local/go/bin:$PATH
WORKDIR $APPDIR
COPY duck.txt $APPDIR/
RUN echo "$GREETING $DATA $PATH" > $APPDIR/out.txt
USER $APPUSER
