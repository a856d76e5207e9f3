# devflow API image. Configure with the variables of the contract's Appendix A
# (DATABASE_URL, JWT_SECRET, FRONTEND_URL, DEVFLOW_LAKE_URL, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DEVFLOW_DATA_DIR=/var/lib/devflow

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY devflow ./devflow
COPY sql ./sql
# Editable install: the ETL and analysts read the plain SQL files under /app/sql.
RUN pip install -c constraints.txt -e . \
    && useradd --system --home /var/lib/devflow --create-home devflow

USER devflow
EXPOSE 3000
CMD ["devflow", "serve", "--host", "0.0.0.0"]
