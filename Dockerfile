# nextread API / worker / scheduler image. Build: docker build -t nextread .
# One image, several processes: `nextread serve` (default), `nextread worker`, `nextread jobs schedule`,
# `nextread db upgrade`. Settings come from NEXTREAD_* environment variables (README: Configuration).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The CPU build of torch first, as scripts/setup.sh does: otherwise sentence-transformers pulls the
# multi-GB CUDA build. The check fails the build if a CUDA build got in all the same.
COPY scripts/install-torch-cpu.sh ./scripts/
RUN bash scripts/install-torch-cpu.sh python
COPY pyproject.toml README.md ./
COPY nextread ./nextread
RUN pip install . \
    && python -c "import torch; assert torch.version.cuda is None, 'CUDA torch: ' + torch.version.cuda"

FROM python:3.11-slim
# libgomp: OpenMP runtime used by implicit and faiss.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 nextread \
    && mkdir /data && chown nextread /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OPENBLAS_NUM_THREADS=1 \
    HF_HUB_OFFLINE=1 \
    NEXTREAD_DATA_DIR=/data
USER nextread
WORKDIR /home/nextread
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["nextread", "serve", "--host", "0.0.0.0", "--port", "8000"]
