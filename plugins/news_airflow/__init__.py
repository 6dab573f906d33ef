"""Airflow adapters for the news pipeline: the only place that turns Airflow Connections into clients."""
