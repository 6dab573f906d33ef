"""The news-ingest Airflow plugin: Kibana links on task instances and a "News ingest" page in the UI.

Airflow imports every ``.py`` file of the plugins folder as a top-level module (``plugins/.airflowignore``
limits that to this file); this one only wires what :mod:`news_airflow.links` and :mod:`news_airflow.page`
define, and stays cheap to import because every Airflow component (scheduler, workers, API server) loads it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from news_airflow.links import KibanaArticlesLink, KibanaStoriesLink
from news_airflow.page import URL_PREFIX, app

PLUGIN_NAME = "news_ingest"


class NewsIngestPlugin(AirflowPlugin):
    """Extra links to Kibana Discover for the three news DAGs, and the stories / feed-health page."""

    name = PLUGIN_NAME
    global_operator_extra_links = [KibanaArticlesLink(), KibanaStoriesLink()]  # noqa: RUF012
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "News ingest"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {
            "name": "News ingest",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "news-ingest",
        }
    ]
