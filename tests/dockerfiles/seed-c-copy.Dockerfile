FROM busybox:1.36
COPY duck.txt /duck.txt
CMD ["cat", "/duck.txt"]
