FROM debian:bookworm
# escape=x
RUN true
