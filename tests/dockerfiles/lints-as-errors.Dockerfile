# check=error=true;skip=ConsecutiveRun;colour=blue
FROM python:latest
RUN apt update && apt install -y vim
