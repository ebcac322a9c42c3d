FROM python
MAINTAINER Duck <duck@example.org>
WORKDIR /app
COPY . .
RUN apt-get update && apt-get install curl
RUN cd /app/src && make
RUN curl -fsSL https://example.org/install.sh | sh
ADD https://example.org/duck.tar.gz /opt/
RUN pip install -r requirements.txt
RUN echo one \

    && echo two
CMD python3 main.py
