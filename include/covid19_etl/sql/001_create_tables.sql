-- The warehouse: one row per day, and one row per successful load.
CREATE TABLE covid19.us_daily (
    date            date PRIMARY KEY,
    cases           bigint NOT NULL CHECK (cases >= 0),
    deaths          bigint NOT NULL CHECK (deaths >= 0),
    -- NULL: JHU no longer reported US recoveries (from 2020-12-14 on).
    recovered       bigint NULL CHECK (recovered >= 0),
    first_loaded_by text NOT NULL,
    first_loaded_at timestamptz NOT NULL DEFAULT now(),
    last_changed_by text NOT NULL,
    last_changed_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE covid19.us_daily IS
    'US COVID-19 cumulative totals per day: NYT cases and deaths joined with JHU recoveries';
COMMENT ON COLUMN covid19.us_daily.recovered IS
    'JHU US recoveries; NULL where JHU no longer reported them (0 after a positive value)';

CREATE TABLE covid19.etl_runs (
    id                  bigserial PRIMARY KEY,
    run_id              text NOT NULL,
    logical_date        timestamptz,
    data_interval_start timestamptz NOT NULL,
    data_interval_end   timestamptz NOT NULL,
    as_of               date NOT NULL,
    try_number          integer,
    source_rows         integer NOT NULL,
    inserted            integer NOT NULL,
    updated             integer NOT NULL,
    unchanged           integer NOT NULL,
    nyt_sha256          text NOT NULL,
    jhu_sha256          text NOT NULL,
    min_date            date,
    max_date            date,
    finished_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX etl_runs_as_of_idx ON covid19.etl_runs (as_of);
COMMENT ON TABLE covid19.etl_runs IS 'One row per committed load: what changed and from which files';
