# Production: HA NAT and database, deletion protection, private Airflow UI reached over VPN.
# terraform apply -var-file=envs/prod.tfvars
aws_region  = "eu-west-1"
environment = "prod"

etl_start_date = "2026-11-01"

network_mode            = "nat"
single_nat_gateway      = false
webserver_access_mode   = "PRIVATE_ONLY"
webserver_ingress_cidrs = ["10.0.0.0/8"]

mwaa_environment_class = "mw1.small"
mwaa_min_workers       = 1
mwaa_max_workers       = 3

db_instance_class        = "db.t4g.small"
db_multi_az              = true
db_backup_retention_days = 14
db_deletion_protection   = true

notification_emails = ["data-oncall@example.com"]

github_repository = "your-org/covid19-etl"

tags = {
  CostCenter = "data-engineering"
}
