# BuildKit's lexer (issue 18, class 8): an escaped escape at the end of a line ends the line;
# white space between `<<` and the heredoc word is allowed.
FROM busybox:1.36
RUN echo one \\
RUN echo two > /two.txt
RUN cat << EOF > /heredoc.txt
spaced marker
EOF
RUN << EOF
echo script > /script.txt
EOF
