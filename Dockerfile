# The exporter image; the simulator runs from the same image (`escrow-exporter devchain`).
FROM python:3.11-slim

# The simulator builds its IDL in code and the reference schema ships inside the package; the
# only file read from /app at run time is the reference program's IDL (/app/idls), which the
# Kubernetes ConfigMap points at. Your own program's IDL comes in a volume or ConfigMap.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what `pip install .` and the runtime need (see .dockerignore); sources last for caching.
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY devchain ./devchain
RUN pip install . \
 && useradd --system --uid 10190 --user-group --home-dir /var/lib/escrow-exporter --create-home escrow
COPY idls ./idls

# Never run as root: the state file lives in the escrow user's home (a volume in compose).
USER escrow
WORKDIR /var/lib/escrow-exporter

EXPOSE 10190
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:10190/-/healthy', timeout=2)"]

ENTRYPOINT ["escrow-exporter"]
CMD ["run", "--config", "/etc/escrow-exporter/config.yml", "--web.listen-address", "0.0.0.0:10190"]
