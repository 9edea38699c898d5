-- The warehouse database of the docker-compose stack, beside Airflow's metadata database.
--
-- The postgres image runs the files in /docker-entrypoint-initdb.d once, when it initialises an
-- empty data volume (`docker compose down -v` starts over). The covid19 schema and its tables
-- are not created here: the DAG's load step applies include/covid19_etl/sql/ itself, as it does
-- on RDS.
--
-- covid19/covid19 is a local development default, like the official compose file's
-- airflow/airflow: this server is reachable only inside the compose network.
CREATE ROLE covid19 LOGIN PASSWORD 'covid19';
CREATE DATABASE covid19 OWNER covid19;
REVOKE ALL ON DATABASE covid19 FROM PUBLIC;
