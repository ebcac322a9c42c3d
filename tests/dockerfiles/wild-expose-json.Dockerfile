# `EXPOSE` has no JSON form in BuildKit: `["80"]` is the port `[80]`, an error.
FROM busybox:1.36
EXPOSE ["80"]
