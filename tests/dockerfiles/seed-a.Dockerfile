FROM busybox
RUN touch new_file1
CMD ls -l
