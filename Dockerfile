# The news-ingest image: Airflow 3.3.2 on Python 3.11 (the version the test suite runs), the project's locked
# dependencies, the library, its DAGs and plugin, and the sample corpus with its local server (evaluation/).
# Built by `docker compose build`; every Airflow service and the one-shot setup services run it.
FROM apache/airflow:3.3.2-python3.11

# The same lock file the test suite is installed from (it pins apache-airflow==3.3.2 itself, so the image's
# Airflow stays what it is). Copied first: the dependency layer is cached until the lock changes.
COPY --chown=airflow:0 requirements.lock /opt/news-ingest/requirements.lock
RUN pip install --no-cache-dir -r /opt/news-ingest/requirements.lock

# The library (installed for the `news-ingest` command; also importable from /opt/news-ingest, where seeds/ is).
COPY --chown=airflow:0 pyproject.toml README.md /opt/news-ingest/
COPY --chown=airflow:0 ingest /opt/news-ingest/ingest
RUN pip install --no-cache-dir --no-deps /opt/news-ingest

COPY --chown=airflow:0 seeds /opt/news-ingest/seeds
COPY --chown=airflow:0 evaluation /opt/news-ingest/evaluation
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins

# /opt/news-ingest first on the path: `ingest` resolves to the copy beside seeds/ (its default feed file) and
# `python -m evaluation.devserver` (the sample-site service) works.
ENV PYTHONPATH=/opt/news-ingest
WORKDIR /opt/airflow
