# syntax=docker/dockerfile:1.7
# escape=`
# check=skip=JSONArgsRecommended
FROM mcr.example/windows/servercore:ltsc2022
RUN dir c:\ `
    && echo done
COPY c:\src\app.exe c:\app\
# escape=\  is only a comment down here
ENV PATH="c:\tools;${PATH}" `
    HOME=c:\users\duck
WORKDIR c:\app
CMD c:\app\app.exe
