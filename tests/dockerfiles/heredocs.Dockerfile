FROM debian:bookworm-slim
RUN <<EOF
set -eu
echo "hello $HOME"
EOF
RUN <<-INDENTED
	echo "tabs stripped"
		echo "all leading tabs stripped"
	INDENTED
RUN <<"QUOTED" bash
echo '$NOT_EXPANDED'
QUOTED
RUN <<'SINGLE'
echo $LITERAL
SINGLE
RUN cat <<A > /a.txt && cat <<-B > /b.txt
first file
A
	second file
	B
COPY <<EOF /etc/duck.conf
name=${DUCK_NAME:-merry}
EOF
COPY --chmod=755 <<-"SCRIPT" /usr/local/bin/quack
	#!/bin/sh
	echo quack $1
	SCRIPT
RUN 3<<FD cat <&3
from fd 3
FD
RUN ["echo", "<<NOT_A_HEREDOC"]
RUN echo done
