FROM python:3.11
RUN apt-get update
RUN apt-get install -y gcc libpq-dev
COPY requirements.txt /app/
WORKDIR /app
RUN pip install -r requirements.txt
COPY . /app
ENV SECRET_KEY=dev
EXPOSE 5000
CMD ["python", "app.py"]
