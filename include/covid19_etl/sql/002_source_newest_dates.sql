-- The newest date in each source file, so a source that stopped moving can be reported.
ALTER TABLE covid19.etl_runs
    ADD COLUMN nyt_max_date date,
    ADD COLUMN jhu_max_date date;

COMMENT ON COLUMN covid19.etl_runs.nyt_max_date IS 'Newest date in the NYT file this load read';
COMMENT ON COLUMN covid19.etl_runs.jhu_max_date IS 'Newest US date in the JHU file this load read';
