"""Elasticsearch client from the Airflow Connection ``elasticsearch_default``.

The connection's host/port/login/password and extras (``scheme``, ``api_key``, ``verify_certs``, ``ca_certs``,
``request_timeout``) map to :class:`elasticsearch.Elasticsearch` arguments. The connection is resolved when
:meth:`get_conn` is called (inside a task), never at DAG-parse time.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from elasticsearch import Elasticsearch


class NewsElasticsearchHook(BaseHook):
    """Build an Elasticsearch 9 client from an Airflow Connection."""

    conn_name_attr = "elasticsearch_conn_id"
    default_conn_name = "elasticsearch_default"
    conn_type = "elasticsearch"
    hook_name = "News Elasticsearch"

    def __init__(self, elasticsearch_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.elasticsearch_conn_id = elasticsearch_conn_id

    def client_kwargs(self) -> dict[str, Any]:
        conn = self.get_connection(self.elasticsearch_conn_id)
        extra = conn.extra_dejson
        host = conn.host or "127.0.0.1"
        if "://" in host:
            url = host if conn.port is None else f"{host.rstrip('/')}:{conn.port}"
        else:
            scheme = extra.get("scheme") or ("https" if extra.get("use_ssl") else "http")
            url = f"{scheme}://{host}:{conn.port or 9200}"
        kwargs: dict[str, Any] = {
            "hosts": [url],
            "request_timeout": float(extra.get("request_timeout", 30)),
        }
        if conn.login:
            kwargs["basic_auth"] = (conn.login, conn.password or "")
        if extra.get("api_key"):
            kwargs["api_key"] = extra["api_key"]
        if "verify_certs" in extra:
            kwargs["verify_certs"] = str(extra["verify_certs"]).lower() not in {"false", "0", "no"}
        if extra.get("ca_certs"):
            kwargs["ca_certs"] = extra["ca_certs"]
        return kwargs

    def get_conn(self) -> Elasticsearch:
        return Elasticsearch(**self.client_kwargs())
