# CPU image of the code location (webserver + daemon via `dagster dev`, or a gRPC code server
# behind a deployed Dagster). For CUDA, base on nvidia/cuda and follow README "GPU".
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 DAGSTER_HOME=/app/.dagster_home PYTHONUNBUFFERED=1
COPY pyproject.toml setup.py requirements.lock README.md dagster.yaml workspace.yaml ./
COPY crypto_assets ./crypto_assets
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install -c requirements.lock . \
 && mkdir -p $DAGSTER_HOME && cp dagster.yaml $DAGSTER_HOME/
EXPOSE 3000 4000
CMD ["dagster", "dev", "-h", "0.0.0.0", "-p", "3000", "-m", "crypto_assets.definitions"]
