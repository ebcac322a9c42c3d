# SYNTAX = docker/dockerfile:1
#escape=\

# escape=`
FROM debian:bookworm
RUN echo \
  one
