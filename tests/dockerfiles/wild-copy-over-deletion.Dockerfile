# A builder stage that cleans up after itself in a later layer, `rm -rf …/lists/*` style (issue
# 18, class 2): `COPY --from` sees the merged view, the deleted files gone.
FROM busybox:1.36 AS build
RUN mkdir -p /var/lib/apt/lists/partial /out \
 && echo part > /var/lib/apt/lists/partial/pkg.deb \
 && echo lock > /var/lib/apt/lists/lock \
 && echo built > /out/tool
RUN rm -rf /var/lib/apt/lists/*

FROM busybox:1.36
COPY --from=build /var/lib /copied
COPY --from=build /out/tool /usr/local/bin/tool
CMD ["sh"]
