FROM busybox:1.36 AS builder
RUN echo "quack" > /duck.txt

FROM busybox:1.36 AS tester
COPY --from=builder /duck.txt /duck.txt
RUN grep quack /duck.txt

FROM busybox:1.36
COPY --from=builder /duck.txt /duck.txt
COPY --from=1 /duck.txt /tested.txt
CMD ["cat", "/duck.txt"]
