# Development: cheapest settings that still run the whole pipeline.
# terraform apply -var-file=envs/dev.tfvars
aws_region  = "eu-west-1"
environment = "dev"

# First logical date of the DAG. With catchup, each day from here to today runs once, in order;
# the first run loads the whole history as of its day, so a recent date keeps catch-up short.
etl_start_date = "2026-11-01"

network_mode           = "nat"
single_nat_gateway     = true
mwaa_environment_class = "mw1.small"
mwaa_max_workers       = 2

db_instance_class        = "db.t4g.micro"
db_multi_az              = false
db_backup_retention_days = 7
# Dev databases are disposable; prod keeps the default (true).
db_deletion_protection = false
bucket_force_destroy   = true

notification_emails = ["data-oncall@example.com"]

# Allow the deploy workflow of this repository's main branch (null: no deploy role).
# github_repository = "your-org/covid19-etl"

tags = {
  CostCenter = "data-engineering"
}
