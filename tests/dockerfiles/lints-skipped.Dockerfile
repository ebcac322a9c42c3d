# check=skip=BaseImageNotPinned,MaintainerDeprecated,jsonargsrecommended,NoSuchRule
FROM python
MAINTAINER Duck
CMD python3 main.py
RUN echo a | cat
