"""The Airflow adapter: an Elasticsearch client from the Connection ``elasticsearch_default``."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.dags


def _kwargs(monkeypatch: pytest.MonkeyPatch, conn: dict[str, object]) -> dict[str, object]:
    from news_airflow.hooks import NewsElasticsearchHook

    monkeypatch.setenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", json.dumps(conn))
    return NewsElasticsearchHook().client_kwargs()


def test_plain_local_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = _kwargs(monkeypatch, {"conn_type": "elasticsearch", "host": "127.0.0.1", "port": 9200})
    assert kwargs["hosts"] == ["http://127.0.0.1:9200"]
    assert "basic_auth" not in kwargs


def test_secured_connection_with_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = _kwargs(
        monkeypatch,
        {
            "conn_type": "elasticsearch",
            "host": "es.internal",
            "port": 9243,
            "login": "elastic",
            "password": "s3cret",
            "extra": {"scheme": "https", "ca_certs": "/certs/ca.crt", "verify_certs": "true", "request_timeout": 60},
        },
    )
    assert kwargs["hosts"] == ["https://es.internal:9243"]
    assert kwargs["basic_auth"] == ("elastic", "s3cret")
    assert kwargs["ca_certs"] == "/certs/ca.crt"
    assert kwargs["verify_certs"] is True
    assert kwargs["request_timeout"] == 60.0


def test_host_given_as_url(monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = _kwargs(monkeypatch, {"conn_type": "elasticsearch", "host": "https://es.example.org"})
    assert kwargs["hosts"] == ["https://es.example.org"]


def test_client_is_built_without_touching_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from elasticsearch import Elasticsearch

    from news_airflow.hooks import NewsElasticsearchHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", json.dumps({"conn_type": "elasticsearch", "host": "127.0.0.1"})
    )
    client = NewsElasticsearchHook().get_conn()
    assert isinstance(client, Elasticsearch)
    client.close()
