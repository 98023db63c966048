FROM python:3.12-slim AS build
RUN pip install build
FROM python:3.12-slim
ENV PIP_NO_CACHE_DIR=1
RUN pip install flask
RUN --mount=type=cache,target=/root/.cache/pip pip3 install gunicorn
USER nobody
