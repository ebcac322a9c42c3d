# check=skip=all;error=true
FROM python
RUN cd /x && echo a | cat
