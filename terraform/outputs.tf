output "bundle_bucket_name" {
  description = "Bundle bucket: `make deploy` uploads here (BUNDLE_BUCKET)."
  value       = module.bundle_bucket.bucket_id
}

output "bundle_bucket_arn" {
  description = "ARN of the bundle bucket."
  value       = module.bundle_bucket.bucket_arn
}

output "raw_root" {
  description = "Value of the covid19_raw_root Airflow Variable."
  value       = module.bundle_bucket.raw_root
}

output "reports_root" {
  description = "Where the DAG writes its static HTML reports."
  value       = module.bundle_bucket.reports_root
}

output "mwaa_environment_name" {
  description = "MWAA environment name: `make deploy` updates it (MWAA_ENVIRONMENT)."
  value       = module.mwaa.environment_name
}

output "mwaa_webserver_url" {
  description = "Airflow UI host name (reachable from inside the VPC when PRIVATE_ONLY)."
  value       = module.mwaa.webserver_url
}

output "mwaa_execution_role_arn" {
  description = "ARN of the MWAA execution role."
  value       = module.mwaa.execution_role_arn
}

output "mwaa_security_group_id" {
  description = "Security group of the MWAA environment."
  value       = module.mwaa.security_group_id
}

output "sns_topic_arn" {
  description = "Notification topic (covid19_sns_topic_arn)."
  value       = module.notifications.topic_arn
}

output "db_address" {
  description = "Private DNS name of the warehouse."
  value       = module.database.address
}

output "db_port" {
  description = "Warehouse port."
  value       = module.database.port
}

output "warehouse_connection_secret_name" {
  description = "Secrets Manager secret holding the covid19_warehouse Airflow connection (and the only copy of the password)."
  value       = module.airflow_settings.warehouse_secret_name
}

output "airflow_variable_secret_names" {
  description = "Secrets Manager secrets of the Airflow Variables."
  value       = module.airflow_settings.variable_secret_names
}

output "kms_key_arn" {
  description = "Project KMS key."
  value       = module.kms.key_arn
}

output "vpc_id" {
  description = "VPC ID."
  value       = module.network.vpc_id
}

output "private_subnet_ids" {
  description = "The two private subnets."
  value       = module.network.private_subnet_ids
}

output "nat_public_ips" {
  description = "Source IPs of the DAG's outbound downloads (nat mode)."
  value       = module.network.nat_public_ips
}

output "github_deploy_role_arn" {
  description = "Role for .github/workflows/deploy.yml (repository variable AWS_DEPLOY_ROLE_ARN); null without github_repository."
  value       = one(module.deploy_role[*].role_arn)
}

output "network_mode" {
  description = "nat or private_only: `make deploy` ships the wheels in plugins.zip when private_only (MWAA_NETWORK_MODE)."
  value       = var.network_mode
}
