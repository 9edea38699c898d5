"""The names other tools rely on: DAG and task ids, Connections, Variables, tables, the asset."""

from __future__ import annotations

DAG_ID = "covid19_etl"
WATCHDOG_DAG_ID = "covid19_etl_watchdog"
TASKS = ("extract", "validate", "transform", "load", "notify", "report")  # in pipeline order

WAREHOUSE_CONN_ID = "covid19_warehouse"
AWS_CONN_ID = "aws_default"
SCHEMA = "covid19"
US_DAILY_ASSET = "covid19.us_daily"  # the asset other DAGs schedule on
DASHBOARD_URL_PREFIX = "/covid19"  # where the api-server mounts the dashboard's app

VAR_NYT_URL = "covid19_nyt_url"
VAR_JHU_URL = "covid19_jhu_url"
VAR_RAW_ROOT = "covid19_raw_root"
VAR_SNS_TOPIC_ARN = "covid19_sns_topic_arn"
VAR_STALE_AFTER_DAYS = "covid19_stale_after_days"

# How the sources are named in messages and on the dashboard.
SOURCE_TITLES = {"nyt": "NYT us.csv", "jhu": "JHU time-series-19-covid-combined.csv"}
