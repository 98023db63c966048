FROM python:3.12-slim
RUN python -m pip install flask
USER nobody
