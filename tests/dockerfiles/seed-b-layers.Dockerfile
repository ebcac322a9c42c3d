FROM busybox:1.36
WORKDIR /app
RUN echo "step three" > /app/three.txt
COPY duck.txt /app/duck.txt
RUN wc -c /app/duck.txt > /app/size.txt
CMD ["cat", "/app/duck.txt"]
