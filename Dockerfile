# syntax=docker/dockerfile:1
# One image for every gossipsim service:  docker run gossipsim:0.1.0 serve scheduler|runner|collector|node
#
# The install steps are scripts/install_image.sh, which tests/k8s/test_image.py also runs in a
# fresh virtual environment: CI has no Docker engine, and a broken step must fail it all the same.
# No credentials are baked in: the broker URL and the S3 keys come from the environment
# (Kubernetes Secrets, see docs/kubernetes.md).

# --- builder: wheels of gossipsim and of every dependency --------------------------------------
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
COPY scripts/install_image.sh ./scripts/install_image.sh
RUN scripts/install_image.sh wheels /src /wheels

# --- runtime: the wheels installed into a virtual environment, run as a non-root user ----------
FROM python:3.11-slim AS runtime
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 gossipsim \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin gossipsim
# The wheels are bind-mounted from the builder, so they never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/scripts/install_image.sh,target=/usr/local/bin/install_image.sh \
    install_image.sh install /wheels /opt/gossipsim
# In the pods the root filesystem is read-only and /tmp is an emptyDir: numba's compiled-kernel
# cache, matplotlib's config and HOME must live there.
ENV PATH=/opt/gossipsim/bin:${PATH} \
    HOME=/tmp \
    NUMBA_CACHE_DIR=/tmp/numba \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /tmp
USER 10001:10001
# 8080: /healthz and /readyz of scheduler, runner and collector; 50051: a node's gRPC service
EXPOSE 8080 50051
ENTRYPOINT ["gossipsim"]
CMD ["--help"]
