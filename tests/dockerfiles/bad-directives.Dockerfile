# escape=x
# syntax=a
# syntax=b
FROM debian:bookworm
