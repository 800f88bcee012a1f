# One image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 ARTHUR_VAR_DIR=/var/lib/arthur
WORKDIR /app
COPY pyproject.toml README.md ./
COPY arthur_panel arthur_panel
COPY cluster_app cluster_app
COPY models_app models_app
COPY simulators simulators
RUN pip install ".[postgres]"
COPY . .
RUN useradd --create-home arthur && mkdir -p /var/lib/arthur && chown arthur /var/lib/arthur
USER arthur
EXPOSE 8000
# The web process by default; docker-compose.yml names each service's command.
ENV HOST=0.0.0.0 PORT=8000
CMD ["python", "-m", "arthur_panel.web"]
